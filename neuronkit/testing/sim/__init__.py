"""SIMULATED Neuron SDK modules, for tests. None of this is the AWS Neuron SDK or touches Inferentia.

Each module stands in for one SDK package (``torch_neuron``, ``torch_neuronx``,
``tensorflow_neuron``, ``tensorflow_neuronx``, ``mx_neuron``, ``mxnet_contrib_neuron`` for
``mxnet.contrib.neuron``): it exposes the documented functions with the documented signatures and
defaults, rejects arguments the real one rejects, and returns a model that runs on the host.
Every simulated function names, in its docstring, the document it follows: paths in the
``aws-neuron/aws-neuron-sdk`` repository (NSDK) or in ``aws-neuron/aws-neuron-tensorflow`` (TFSRC).

Recorded calls, one convention for every module: ``module.calls`` is a list with one dict per call
to a simulated SDK function, in order, made by :func:`recorder`::

    {"module": "torch_neuron", "function": "trace",   # the SDK module and function as documented
     "args": (model, example_inputs),                  # positional arguments, as the caller passed them
     "kwargs": {"compiler_args": [...]},               # keyword arguments, as the caller passed them
     "env": {"NEURON_CC_FLAGS": "..."},                # the NEURON* variables the call saw
     "compiler": {"name": "neuron-cc", "fast_math": ["none"], ...},  # a compile: the command line as parsed
     ...}                                              # what the simulated SDK made of them

A call that raised is recorded too, with ``"error": "Type: message"``. ``module.reset()`` empties
``module.calls``. ``install()`` puts a module in ``sys.modules``; :func:`installed` does that for
the length of a ``with`` block.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import functools
import importlib
import os
import shlex
from pathlib import Path


def neuron_env() -> dict:
    """The Neuron runtime/compiler variables in force now."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("NEURON") and not k.startswith("NEURONKIT")}


@contextlib.contextmanager
def installed(*names: str):
    """``with installed("torch_neuron"):`` -- the simulation is importable under the SDK's name."""
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    for module in modules:
        module.reset()
        module.install()
    try:
        yield modules[0] if len(modules) == 1 else modules
    finally:
        for module in modules:
            module.uninstall()


#: The simulations a backend's Neuron path calls, per (backend, target, engine); tf and mxnet take the
#: first of theirs that fits (neuronkit.testing.NeuronCase says which SDK each target needs)
SIMULATIONS = {("torch", "inf1", ""): "torch_neuron", ("torch", "inf2", ""): "torch_neuronx",
               ("torch", "trn1", ""): "torch_neuronx", ("torch", "trn2", "trace"): "torch_neuronx",
               ("torch", "trn2", "native"): "torch_neuronx_native", ("torch", "trn3", "native"): "torch_neuronx_native",
               ("tf", "inf1", ""): "tensorflow_neuron", ("tf", "inf2", ""): "tensorflow_neuronx",
               ("tf", "trn1", ""): "tensorflow_neuronx", ("mxnet", "inf1", ""): "mx_neuron"}
#: A fake machine for each core kind: (physical cores per chip, sysfs arch_type, instance type).
FAKE_HOSTS = {"NeuronCore-v1": (4, "NCv1", "inf1.xlarge"), "NeuronCore-v2": (2, "NCv2", "inf2.xlarge"),
              "NeuronCore-v3": (8, "NCv3", "trn2.48xlarge"), "NeuronCore-v4": (8, "NCv4", "trn3")}


def make_fake_host(root, devices: int = 4, cores_per_device: int = 4, arch: str = "NCv1",
                   instance_type: str = "inf1.6xlarge") -> Path:
    """Lay out ``/dev/neuronN`` and the Neuron sysfs tree under ``root``; point
    ``NEURONKIT_SYSROOT`` at it and :func:`neuronkit.targets.discover` sees that machine."""
    root = Path(root)
    (root / "dev").mkdir(parents=True, exist_ok=True)
    for i in range(devices):
        (root / "dev" / f"neuron{i}").touch()
        sysdir = root / f"sys/devices/virtual/neuron_device/neuron{i}"
        (sysdir / "info/architecture").mkdir(parents=True, exist_ok=True)
        (sysdir / "core_count").write_text(f"{cores_per_device}\n")
        (sysdir / "info/architecture/arch_type").write_text(f"{arch}\n")
        (sysdir / "info/architecture/instance_type").write_text(f"{instance_type}\n")
    return root


@contextlib.contextmanager
def simulated(backend: str, target: str, engine: str = ""):
    """A SIMULATED Neuron machine for a dry run outside tests (``examples/resnet50.py --simulate``): the
    simulated SDK ``backend`` calls for ``target`` installed, and ``NEURONKIT_SYSROOT`` pointing at a fake
    one-chip host of the target's kind, for the block (child processes inherit the fake host)."""
    import tempfile

    from neuronkit.neuron import environment
    from neuronkit.targets import get_target

    name = SIMULATIONS.get((backend, target, engine)) or next(  # no engine named: the default one's, listed first
        (sim for (b, t, e), sim in SIMULATIONS.items() if (b, t) == (backend, target) and not engine), None)
    if name is None:
        raise ValueError(f"no simulation of the {backend} backend's SDK for {target}"
                         + (f" (engine {engine})" if engine else ""))
    with tempfile.TemporaryDirectory(prefix="neuronkit-simulated-host-") as root, installed(name), environment(
            NEURONKIT_SYSROOT=str(make_fake_host(root, 1, *FAKE_HOSTS[get_target(target).core_kind])),
            TORCH_NEURONX_NEFF_CACHE_DIR=str(Path(root) / "neff-cache")):  # its placeholder NEFFs stay in here
        yield name


# -- recorded calls

_current_call: contextvars.ContextVar = contextvars.ContextVar("neuronkit_sim_call")


def new_record(module: str, function: str, args: tuple, kwargs: dict) -> dict:
    """One entry of ``module.calls`` (see the module docs). Lists are copied: what was passed,
    even where the SDK then changes the caller's list."""
    def snapshot(value):
        return list(value) if isinstance(value, list) else value

    return {"module": module, "function": function, "args": tuple(snapshot(a) for a in args),
            "kwargs": {k: snapshot(v) for k, v in kwargs.items()}, "env": neuron_env()}


def recorder(module: str, calls: list):
    """The decorator a simulation puts on each SDK function: every call goes into ``calls``.

    ``@record`` names the record after the function; ``@record(name="saved_model.compile")`` gives
    the name the SDK documents when the Python name differs.
    """
    def record(function=None, *, name=None):
        def decorate(function):
            @functools.wraps(function)
            def call(*args, **kwargs):
                entry = new_record(module, name or function.__name__, args, kwargs)
                calls.append(entry)
                token = _current_call.set(entry)
                try:
                    return function(*args, **kwargs)
                except BaseException as exc:
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                    raise
                finally:
                    _current_call.reset(token)
            return call
        return decorate(function) if function is not None else decorate
    return record


def current_call() -> dict:
    """The record of the simulated SDK call in progress."""
    return _current_call.get()


def note(**details) -> dict:
    """Add what the simulated SDK made of the call in progress (parsed flags, placement...) to its record."""
    entry = current_call()
    entry.update(details)
    return entry


# -- the compilers' command lines

class SimulatedCompilerError(RuntimeError):
    """The simulated neuron-cc / neuronx-cc refused its arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SimulatedCompilerError(f"{self.prog}: error: {message}")


def split_args(args) -> list:
    """Compiler arguments given as one string (``compiler_args="-O2"``) or a list of strings."""
    if args is None:
        return []
    return shlex.split(args) if isinstance(args, str) else [str(a) for a in args]


FAST_MATH_VALUES = ("all", "none", "fast-relayout", "no-fast-relayout", "fp32-cast-all", "fp32-cast-all-fp16",
                    "fp32-cast-matmult", "fp32-cast-matmult-bf16", "fp32-cast-matmult-fp16")
FP32_CAST_VALUES = ("all", "matmult", "matmult-fp16", "matmult-bf16", "all-fp16")


def check_neuron_cc_args(args) -> argparse.Namespace:
    """Validate arguments as ``neuron-cc compile`` would.

    Doc: NSDK ``compiler/neuron-cc/command-line-reference.rst``.
    The frameworks add ``--framework``, ``--io-config``, ``--output`` and ``--pipeline compile
    SaveTemps`` themselves (the torch-neuron log in OLD ``getting_started.rst``; TFSRC
    ``python/graph_util.py`` and ``python/neuron_cc_hlo.py``), and users pass ``--pipeline`` too
    (NSDK ``archive/helper-tools/tutorial-neuron-gatherinfo.rst``), so those are accepted.
    """
    parser = _Parser(prog="neuron-cc compile")
    parser.add_argument("--framework", choices=("TENSORFLOW", "MXNET", "XLA"), default=None)
    parser.add_argument("--io-config", default=None)
    parser.add_argument("--pipeline", nargs="+", default=None)
    parser.add_argument("--neuroncore-pipeline-cores", type=int, default=1)
    parser.add_argument("--fast-math", nargs="+", choices=FAST_MATH_VALUES, default=None)
    parser.add_argument("--fp32-cast", choices=FP32_CAST_VALUES, default=None)
    parser.add_argument("--verbose", default=None)
    parser.add_argument("--output", default="out.neff")
    parser.add_argument("-O2", dest="o2", action="store_true")
    parser.add_argument("--static-weights", action="store_true")
    for flag in ("--enable-saturate-infinity", "--enable-fast-loading-neuron-binaries",
                 "--enable-fast-context-switch"):
        parser.add_argument(flag, action="store_true")
    ns = parser.parse_args(split_args(args))
    if ns.neuroncore_pipeline_cores < 1:
        parser.error("--neuroncore-pipeline-cores must be at least 1")
    values = ns.fast_math or []
    groups = ({"all", "none"}, {v for v in FAST_MATH_VALUES if v.startswith("fp32-cast-")},
              {"fast-relayout", "no-fast-relayout"})
    for group in groups:
        if len(group & set(values)) > 1:
            parser.error(f"--fast-math values {sorted(group & set(values))} are mutually exclusive")
    return _noted_compiler("neuron-cc", ns)


def _noted_compiler(name: str, ns: argparse.Namespace) -> argparse.Namespace:
    """Every simulated compile records the command line its compiler parsed under one key, ``compiler``
    (``{"name": "neuron-cc", "fast_math": [...], ...}``): the right-most of repeated flags, as the CLI takes it."""
    entry = _current_call.get(None)
    if entry is not None:
        entry["compiler"] = {"name": name, **vars(ns)}
    return ns


#: Neuron SDK release -> what neuronx-cc's CLI reference documents from that release on
#: (NSDK ``compiler/neuronx-cc/api-reference-guide/index.rst`` and its history):
NEURONX_CC_TRN2 = (2, 21)         # --target trn2 and --logical-nc-config/-lnc (reference guide, 2.21.0)
NEURONX_CC_NEW_DEFAULTS = (2, 27)  # --auto-cast none, mixed-precision accumulation on, --disable-... flag
#                                    (NSDK release-notes/prev/2.27.0/compiler.rst; before: matmult, as the
#                                    2.20 guide NSDK@72825d50 says)
NEURONX_CC_INT64 = (2, 32)        # --native-int64, --implicit-integer-downcast (reference guide, 2.32.0)


def check_neuronx_cc_args(args, release: tuple = (2, 21)) -> argparse.Namespace:
    """Validate arguments as ``neuronx-cc compile --framework XLA`` of Neuron SDK ``release`` would.

    Doc: NSDK ``compiler/neuronx-cc/api-reference-guide/index.rst`` (2.32) and, for earlier
    releases, its history (neuron-sdk-2026.md §3); ``--lnc`` from NSDK
    ``compiler/error-codes/EARG001.rst``. ``args`` is a string or a list, as torch-neuronx takes it.
    """
    parser = _Parser(prog="neuronx-cc compile")
    targets = ("inf2", "trn1", "trn1n") + (("trn2",) if release >= NEURONX_CC_TRN2 else ())
    new_defaults = release >= NEURONX_CC_NEW_DEFAULTS
    parser.add_argument("--framework", choices=("XLA",), default=None)
    parser.add_argument("--target", choices=targets, default=None)
    parser.add_argument("--model-type", choices=("generic", "transformer", "unet-inference"), default="generic")
    parser.add_argument("--auto-cast", choices=("none", "matmult", "all"),
                        default="none" if new_defaults else "matmult")
    parser.add_argument("--auto-cast-type", choices=("bf16", "fp16", "tf32", "fp8_e4m3"), default="bf16")
    parser.add_argument("--distribution-strategy", choices=("llm-training", "NEMO"), default=None)
    parser.add_argument("--optlevel", "-O", choices=("1", "2", "3"), default="2")
    parser.add_argument("--logfile", default="log-neuron-cc.txt")
    parser.add_argument("--output", default="file.neff")
    parser.add_argument("--verbose", default=None)
    parser.add_argument("--enable-mixed-precision-accumulation", dest="mixed_precision_accumulation",
                        action="store_true", default=new_defaults)
    if new_defaults:
        parser.add_argument("--disable-mixed-precision-accumulation", dest="mixed_precision_accumulation",
                            action="store_false")
    for flag in ("--enable-saturate-infinity", "--enable-fast-context-switch", "--enable-fast-loading-neuron-binaries"):
        parser.add_argument(flag, action="store_true")
    if release >= NEURONX_CC_TRN2:
        parser.add_argument("--logical-nc-config", "-lnc", "--lnc", dest="lnc", type=int, choices=(1, 2), default=None)
    if release >= NEURONX_CC_INT64:
        parser.add_argument("--native-int64", choices=("default", "enabled", "disabled"), default="default")
        parser.add_argument("--implicit-integer-downcast", default="default")
    ns = parser.parse_args(split_args(args))
    if release >= NEURONX_CC_TRN2:
        if ns.lnc is None:
            ns.lnc = 2 if ns.target == "trn2" else 1  # "trn2 only; default 2"
        elif ns.lnc == 2 and ns.target in ("inf2", "trn1", "trn1n"):
            parser.error(f"[NCC_EARG001] --logical-nc-config 2 is for trn2, not {ns.target}")
    return _noted_compiler("neuronx-cc", ns)


def visible_core_count() -> int | None:
    """How many NeuronCores the simulated runtime would give this process (None: all, unknown)."""
    env = os.environ
    if env.get("NEURON_RT_VISIBLE_CORES"):
        from neuronkit.targets import parse_core_list

        return len(parse_core_list(env["NEURON_RT_VISIBLE_CORES"]))
    if env.get("NEURON_RT_NUM_CORES"):
        return int(env["NEURON_RT_NUM_CORES"])
    return None


# -- the torch SDKs' DataParallel

#: Attributes a simulated ``trace`` stores on the TorchScript it returns (they survive torch.jit.save and
#: load): the batch it was compiled for, and whether it takes any batch. Only the simulations read them.
COMPILED_BATCH, ANY_BATCH = "_neuronkit_sim_batch", "_neuronkit_sim_any_batch"


def mark_compiled_batch(traced, batch: int, any_batch: bool) -> None:
    import torch

    traced._c._register_attribute(COMPILED_BATCH, torch._C.IntType.get(), int(batch))
    traced._c._register_attribute(ANY_BATCH, torch._C.BoolType.get(), bool(any_batch))


class DataParallel:
    """``DataParallel`` of torch-neuron and torch-neuronx (SIMULATED): replicate over cores, split the input.

    Doc: NSDK ``archive/torch-neuron/api-torch-neuron-dataparallel-api.rst`` and
    ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-data-parallel.rst``
    and the dynamic-batching examples beside them (a model traced at batch 1
    runs batches 2-6): ``device_ids`` are process-relative cores (default: all the process has);
    with dynamic batching (on for ``dim=0``) any batch runs, cut into chunks of the compiled batch
    (the simulation pads the last one), or of ``split_size`` for a model that takes any batch; with it
    off, ``input.shape[dim] / len(device_ids)`` must equal the compiled batch. Each chunk runs the
    host trace, which refuses another batch unless compiled for any. Calls (and each ``forward``'s
    chunks) go to the SDK module's ``calls``.
    """

    def __init__(self, model, device_ids, dim, *, module: str, calls: list, **documented):
        available = visible_core_count()
        ids = [int(str(d).removeprefix("nc:")) for d in device_ids] if device_ids is not None else None
        if ids is not None and available is not None and max(ids) >= available:
            raise RuntimeError(f"NeuronCore(s) not available - Requested:nc{max(ids)} Available:{available}")
        self.module, self.device_ids, self.dim, self._sdk, self._calls = model, ids, dim, module, calls
        self.cores = len(ids) if ids else (available or 1)
        self.num_workers, self.split_size = 2 * self.cores, None
        self.dynamic_batching = documented.get("set_dynamic_batching", dim == 0)
        self._record("DataParallel", device_ids=ids, dim=dim, **documented)

    def _record(self, function: str, **details) -> dict:
        entry = {**new_record(self._sdk, function, (), details), **details}
        self._calls.append(entry)
        return entry

    def disable_dynamic_batching(self):
        self.dynamic_batching = False
        self._record("disable_dynamic_batching", device_ids=self.device_ids)

    def __call__(self, *inputs):
        import torch

        rows = int(inputs[0].shape[self.dim])
        compiled = getattr(self.module, COMPILED_BATCH, None)
        fixed = compiled is not None and not getattr(self.module, ANY_BATCH, True)
        if not self.dynamic_batching:
            if compiled is not None and rows != compiled * self.cores:
                raise RuntimeError(f"DataParallel with dynamic batching disabled needs input.shape[{self.dim}] / "
                                   f"len(device_ids) == the compiled batch: {rows} / {self.cores} != {compiled}")
            size = rows // self.cores
        else:  # any batch: chunks of the compiled batch (the last one padded), else split_size
            size = compiled if fixed else self.split_size or max(1, rows // self.cores)
        chunks = [tuple(_padded(x.narrow(self.dim, start, min(size, rows - start)), size, self.dim) for x in inputs)
                  for start in range(0, rows, size)]
        self._record("forward", rows=rows, chunks=[int(c[0].shape[self.dim]) for c in chunks])
        outputs = [_run_compiled(self.module, chunk, self.dim) for chunk in chunks]
        if isinstance(outputs[0], tuple):
            return tuple(torch.cat(parts, self.dim).narrow(self.dim, 0, rows) for parts in zip(*outputs))
        return torch.cat(outputs, self.dim).narrow(self.dim, 0, rows)


def _padded(x, size: int, dim: int):
    """A short last chunk filled up to ``size`` by repeating its last row."""
    import torch

    short = size - int(x.shape[dim])
    return x if short <= 0 else torch.cat([x] + [x.narrow(dim, x.shape[dim] - 1, 1)] * short, dim)


def _run_compiled(module, inputs, dim):
    """One NeuronCore's part: a model compiled for a fixed batch takes only that batch."""
    compiled = getattr(module, COMPILED_BATCH, None)
    if compiled is not None and not getattr(module, ANY_BATCH, True) and int(inputs[0].shape[dim]) != compiled:
        raise RuntimeError(f"the compiled model takes a batch of {compiled} (compiled without dynamic batch), "
                           f"got {int(inputs[0].shape[dim])}")
    return module(*inputs)
