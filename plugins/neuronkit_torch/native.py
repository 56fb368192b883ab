"""trn2/trn3 through native TorchNeuron (``engine="native"``), called as documented, and telling the
two stacks of the pip package ``torch-neuronx`` apart.

``torch-neuronx`` 2.9 (and before) is the XLA stack with ``torch_neuronx.trace``; 2.13 and later is
native TorchNeuron, which has a ``neuron`` device and a ``torch.compile`` backend instead
(neuron-sdk-2026.md §1, §2). Native TorchNeuron compiles just in time, on the first call on a
Trainium2/3 device, one graph per input shape (``dynamic=True`` is unsupported). So its artifact is:

- ``model.pt2``: the exported program and weights (``torch.export``), which loads without the
  model's Python code;
- ``neffs/``: the compiled graphs, when the compile ran on a device: collected from the backend's
  NEFF cache (``TORCH_NEURONX_NEFF_CACHE_DIR``, default ``/tmp/neff_cache``: from an unofficial
  source snapshot, UNCONFIRMED for 2.33) and put back there at load, so a device of the same kind
  need not compile again. If the variable is not what TorchNeuron reads, the load compiles: slower,
  never wrong.

Loading moves the program to ``neuron:N`` (one logical core per replica), compiles it with
``torch.compile(module, backend="neuron", fullgraph=True)`` and runs it once at the compiled shape,
so the compile happens at load, with the artifact's flags in ``NEURON_CC_FLAGS`` (precision and LNC,
the same neuronx-cc table as ``trace``) and ``TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION=1``: an
operator TorchNeuron cannot compile is an error, never a silent run on the CPU.
In this project's tests this runs against a simulated TorchNeuron, never on Trainium.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from neuronkit import (
    BackendUnavailable,
    CompileError,
    CompileReport,
    CompileResult,
    Component,
    CoreSpecError,
    NeuronkitError,
)
from neuronkit.neuron import (
    NEURON_REPOSITORY,
    extra_compiler_args,
    flags_in_environment,
    import_sdk,
    neuronx_cc_casts,
    version_tuple,
)
from neuronkit.targets import discover

from .model import TorchModel, as_tuple, framework

PROGRAM, NEFFS = "model.pt2", "neffs"
PACKAGE, MODULE, DEVICE = "torch-neuronx", "torch_neuronx", "neuron"
#: Compile options of the trace engine (torch_neuronx.trace's API), with their defaults
TRACE_ONLY = {"inline_weights": True, "lazy_load": False, "async_load": False, "shapes": None}
#: The first torch-neuronx version that is native TorchNeuron (2.13.3.0 in Neuron 2.33.0)
NATIVE_FROM = (2, 13)
FALLBACK_ENV = "TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION"
NEFF_CACHE_ENV, NEFF_CACHE_DEFAULT = "TORCH_NEURONX_NEFF_CACHE_DIR", "/tmp/neff_cache"  # UNCONFIRMED (above)
INSTALL = {"native": f'pip install "torch-neuronx==2.14.*" "neuronx-cc==2.*" --extra-index-url={NEURON_REPOSITORY} '
                     f'(with PyTorch 2.14; torch-neuronx 2.13.* with PyTorch 2.13)',
           "trace": f'pip install "torch-neuronx==2.9.*" --extra-index-url={NEURON_REPOSITORY} (with PyTorch 2.9)'}


def import_stack(target: str, engine: str):
    """``torch_neuronx``, checked to be the stack ``engine`` needs: ``trace`` (XLA, before 2.13) or
    ``native`` (2.13 and later, matching the installed PyTorch's major.minor)."""
    import torch

    sdk = import_sdk(MODULE, PACKAGE, target=target)
    version = str(getattr(sdk, "__version__", ""))
    native = version_tuple(version)[:2] >= NATIVE_FROM
    if engine == "native" and not native:
        raise BackendUnavailable(f"torch-neuronx {version} is the XLA stack (torch_neuronx.trace); engine='native' "
                                 f"needs native TorchNeuron, torch-neuronx 2.13 or later: {INSTALL['native']}. Or "
                                 f"compile with engine='trace'")
    if engine == "trace" and native:
        raise BackendUnavailable(f"torch-neuronx {version} is native TorchNeuron, which has no torch_neuronx.trace: "
                                 f"compile for trn2/trn3 with engine='native', or, for {target} with trace, install "
                                 f"the XLA stack in its own environment: {INSTALL['trace']}")
    if native and version_tuple(version)[:2] != version_tuple(torch.__version__)[:2]:
        raise BackendUnavailable(f"torch-neuronx {version} is built for PyTorch {version_tuple(version)[0]}."
                                 f"{version_tuple(version)[1]}, and PyTorch {torch.__version__} is installed: install "
                                 f"the torch-neuronx that matches it ({INSTALL['native']})")
    return sdk


def compile_native(m: TorchModel, request) -> CompileResult:
    import torch

    target = request.target.name
    sdk = import_stack(target, "native")
    if isinstance(m.module, torch.jit.ScriptModule):
        raise CompileError("engine='native' exports the model with torch.export, which takes a torch.nn.Module, not "
                           "TorchScript: pass the module itself, or use engine='trace'")
    given = [name for name in TRACE_ONLY if request.options.get(name) not in (None, TRACE_ONLY[name])]
    if given:
        raise CompileError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} torch_neuronx.trace's "
                           f"(engine='trace'); native TorchNeuron has no such setting")
    flags = neuronx_cc_casts(target, request.precision, request.options.get("logical_cores")) + \
        extra_compiler_args(request.options)
    request.progress("exporting the program and weights (torch.export)")
    program = torch.export.export(m.module, m.examples)
    torch.export.save(program, str(request.workdir / PROGRAM))
    load = {"program": PROGRAM, "sdk": MODULE, "neffs": None}
    if discover().runs(request.target):
        request.progress("compiling on this Neuron device (torch.compile backend='neuron')")
        neffs = request.workdir / NEFFS
        neffs.mkdir()
        with flags_in_environment(flags, **{FALLBACK_ENV: "1", NEFF_CACHE_ENV: str(neffs)}):
            run = _compiled(program.module(), 0)
            run([t.numpy() for t in m.examples])
        load["neffs"] = NEFFS
        notes = (f"compiled on this device: {len(list(neffs.iterdir()))} graph(s) in {NEFFS}/, put in the NEFF "
                 f"cache at load",)
    else:
        notes = (f"exported only: native TorchNeuron compiles on the device, so the first load on a {target} "
                 f"compiles (minutes for a large model); compile on a {target} instance to ship the compiled "
                 f"graphs in the artifact",)
    return CompileResult(
        inputs=m.inputs(False), outputs=m.outputs(False), framework=framework(),
        compiler=Component("neuronx-cc (torch-neuronx, native TorchNeuron)", str(getattr(sdk, "__version__", ""))),
        flags=tuple(flags), engine="native", batch_size=m.batch, dynamic_batch=False,
        report=CompileReport(notes=("torch.compile(backend='neuron', fullgraph=True): the whole graph on the "
                                    "NeuronCore, no fallback to the CPU",) + notes),
        load=load,
    )


def load(artifact, group):
    """``run(inputs)`` on one logical NeuronCore, compiled (or found in the NEFF cache) now."""
    import torch

    m = artifact.manifest
    if group.size > 1:
        raise CoreSpecError(f"native TorchNeuron runs a model on one NeuronCore (neuron:N); a group of {group.size} "
                            f"cannot hold one replica: load with group_size=1 (one replica per core)")
    import_stack(m.target, "native")
    if os.environ.get(FALLBACK_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        raise NeuronkitError(f"{FALLBACK_ENV}={os.environ[FALLBACK_ENV]} is set: an operator TorchNeuron cannot "
                             f"compile would run eagerly on the CPU, unseen. Unset it (neuronkit sets it to 1)")
    if m.load.get("neffs"):
        _seed([artifact.file(name) for name in m.files if name.startswith(m.load["neffs"] + "/")])
    program = torch.export.load(str(artifact.file(m.load["program"])))
    with flags_in_environment(list(m.flags), **{FALLBACK_ENV: "1"}):
        run = _compiled(program.module(), group.local_start)
        run([_zeros(spec) for spec in m.inputs])  # compile now, not on the first request
    return run


def _compiled(module, core: int):
    """The program on ``neuron:core`` behind ``torch.compile(backend="neuron")``; numpy in, numpy out."""
    import torch

    device = f"{DEVICE}:{core}"
    compiled = torch.compile(module.to(device), backend=DEVICE, fullgraph=True)

    def run(inputs):
        with torch.no_grad():
            outputs = compiled(*(torch.from_numpy(x).to(device) for x in inputs))
        return [o.to("cpu").numpy() for o in as_tuple(outputs)]

    return run


def _seed(neffs: list) -> None:
    """Copy the artifact's compiled graphs into the NEFF cache, leaving files already there alone; where
    the cache cannot be written, say so and let the load compile."""
    cache = Path(os.environ.get(NEFF_CACHE_ENV) or NEFF_CACHE_DEFAULT)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for neff in neffs:
            if not (cache / neff.name).exists():
                shutil.copy2(neff, cache / neff.name)
    except OSError as exc:
        warnings.warn(f"could not put the artifact's compiled graphs in the NEFF cache {cache} ({exc}); "
                      f"TorchNeuron compiles the model again at this load", RuntimeWarning, stacklevel=3)


def _zeros(spec):
    import numpy as np

    return np.zeros(spec.shape, spec.dtype)
