"""SIMULATED Neuron SDK modules, for tests. None of this is the AWS Neuron SDK or touches Inferentia.

Each module stands in for one SDK package (``torch_neuron``, ``torch_neuronx``,
``tensorflow_neuron``, ``tensorflow_neuronx``, ``mx_neuron``, ``mxnet_contrib_neuron`` for
``mxnet.contrib.neuron``): it exposes the documented functions
with the documented signatures and defaults (docs: neuron-sdk-reference.md), rejects arguments the
real one rejects, records every call with the ``NEURON*`` environment it saw (``module.calls``),
and returns a model that runs on the host. ``install()`` puts it in ``sys.modules``;
:func:`installed` does that for the length of a ``with`` block.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex


def neuron_env() -> dict:
    """The Neuron runtime/compiler variables in force now."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("NEURON")}


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


class SimulatedCompilerError(RuntimeError):
    """The simulated neuron-cc / neuronx-cc refused its arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SimulatedCompilerError(f"{self.prog}: error: {message}")


FAST_MATH_VALUES = ("all", "none", "fast-relayout", "no-fast-relayout", "fp32-cast-all", "fp32-cast-all-fp16",
                    "fp32-cast-matmult", "fp32-cast-matmult-bf16", "fp32-cast-matmult-fp16")
FP32_CAST_VALUES = ("all", "matmult", "matmult-fp16", "matmult-bf16", "all-fp16")
NEURONX_TARGETS = ("inf2", "trn1", "trn1n", "trn2")


def check_neuron_cc_args(args) -> argparse.Namespace:
    """Validate arguments as ``neuron-cc compile`` would (command-line reference, §4.1-4.2)."""
    parser = _Parser(prog="neuron-cc compile")
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
    ns = parser.parse_args(list(args or ()))
    if ns.neuroncore_pipeline_cores < 1:
        parser.error("--neuroncore-pipeline-cores must be at least 1")
    values = ns.fast_math or []
    groups = ({"all", "none"}, {v for v in FAST_MATH_VALUES if v.startswith("fp32-cast-")},
              {"fast-relayout", "no-fast-relayout"})
    for group in groups:
        if len(group & set(values)) > 1:
            parser.error(f"--fast-math values {sorted(group & set(values))} are mutually exclusive")
    return ns


def check_neuronx_cc_args(args) -> argparse.Namespace:
    """Validate arguments as ``neuronx-cc compile --framework XLA`` would (a string or a list)."""
    parser = _Parser(prog="neuronx-cc compile")
    parser.add_argument("--target", choices=NEURONX_TARGETS, default=None)
    parser.add_argument("--model-type", choices=("generic", "transformer", "unet-inference"), default="generic")
    parser.add_argument("--auto-cast", choices=("none", "matmult", "all"), default="none")
    parser.add_argument("--auto-cast-type", choices=("bf16", "fp16", "tf32", "fp8_e4m3"), default="bf16")
    parser.add_argument("--optlevel", "-O", choices=("1", "2", "3"), default="2")
    parser.add_argument("--logfile", default="log-neuron-cc.txt")
    parser.add_argument("--output", default="file.neff")
    parser.add_argument("--verbose", default=None)
    for flag in ("--enable-mixed-precision-accumulation", "--enable-saturate-infinity",
                 "--enable-fast-context-switch", "--enable-fast-loading-neuron-binaries"):
        parser.add_argument(flag, action="store_true")
    return parser.parse_args(shlex.split(args) if isinstance(args, str) else list(args or ()))


def visible_core_count() -> int | None:
    """How many NeuronCores the simulated runtime would give this process (None: all, unknown)."""
    env = os.environ
    if env.get("NEURON_RT_VISIBLE_CORES"):
        from neuronkit.targets import parse_core_list

        return len(parse_core_list(env["NEURON_RT_VISIBLE_CORES"]))
    if env.get("NEURON_RT_NUM_CORES"):
        return int(env["NEURON_RT_NUM_CORES"])
    return None
