"""SIMULATED Neuron SDK modules, for tests. None of this is the AWS Neuron SDK or touches Inferentia.

Each module stands in for one SDK package (``torch_neuron``, ``torch_neuronx``,
``tensorflow_neuron``, ``tensorflow_neuronx``, ``mx_neuron``): it exposes the documented functions
with the documented signatures and defaults (docs: neuron-sdk-reference.md), rejects arguments the
real one rejects, records every call with the ``NEURON*`` environment it saw (``module.calls``),
and returns a model that runs on the host. ``install()`` puts it in ``sys.modules``;
:func:`installed` does that for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import importlib
import os


def neuron_env() -> dict:
    """The Neuron runtime/compiler variables in force now."""
    return {k: v for k, v in os.environ.items() if k.startswith("NEURON")}


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


def check_choice(flag: str, value: str, choices) -> None:
    if value not in choices:
        raise SimulatedCompilerError(f"{flag}: invalid choice {value!r} (choose from {', '.join(choices)})")


class SimulatedCompilerError(RuntimeError):
    """The simulated neuron-cc / neuronx-cc refused its arguments."""


NEURON_CC_FAST_MATH = ("all", "none", "fast-relayout", "no-fast-relayout", "fp32-cast-all", "fp32-cast-all-fp16",
                       "fp32-cast-matmult", "fp32-cast-matmult-bf16", "fp32-cast-matmult-fp16")


def check_neuron_cc_args(args) -> dict:
    """Validate ``compiler_args`` the way neuron-cc's argument parser would; return the parsed flags."""
    args = list(args or ())
    parsed: dict = {}
    i = 0
    while i < len(args):
        flag = args[i]
        if flag == "--fast-math":
            values = []
            while i + 1 < len(args) and not args[i + 1].startswith("--"):
                i += 1
                check_choice(flag, args[i], NEURON_CC_FAST_MATH)
                values.append(args[i])
            if not values:
                raise SimulatedCompilerError("--fast-math needs at least one value")
            parsed["fast_math"] = values
        elif flag in ("--neuroncore-pipeline-cores", "--fp32-cast", "--verbose"):
            i += 1
            if i >= len(args):
                raise SimulatedCompilerError(f"{flag} needs a value")
            parsed[flag.lstrip("-").replace("-", "_")] = args[i]
            if flag == "--neuroncore-pipeline-cores" and not args[i].isdigit():
                raise SimulatedCompilerError(f"{flag}: invalid int value {args[i]!r}")
        elif flag in ("--enable-saturate-infinity", "--enable-fast-loading-neuron-binaries",
                      "--enable-fast-context-switch", "-O2"):
            parsed[flag] = True
        else:
            raise SimulatedCompilerError(f"neuron-cc: unrecognized arguments: {flag}")
        i += 1
    return parsed


def check_neuronx_cc_args(args) -> dict:
    """Validate ``compiler_args`` the way neuronx-cc would (the right-most of competing options wins)."""
    args = args.split() if isinstance(args, str) else list(args or ())
    choices = {"--target": ("inf2", "trn1", "trn1n", "trn2"), "--auto-cast": ("none", "matmult", "all"),
               "--auto-cast-type": ("bf16", "fp16", "tf32", "fp8_e4m3"), "--model-type": ("generic", "transformer",
                                                                                        "unet-inference"),
               "--optlevel": ("1", "2", "3"), "-O": ("1", "2", "3")}
    parsed: dict = {}
    i = 0
    while i < len(args):
        flag, _, inline = args[i].partition("=")
        if flag in choices:
            value = inline or (args[i + 1] if i + 1 < len(args) else "")
            i += 0 if inline else 1
            check_choice(flag, value, choices[flag])
            parsed[flag.lstrip("-").replace("-", "_")] = value
        elif flag in ("--enable-mixed-precision-accumulation", "--enable-saturate-infinity",
                      "--enable-fast-context-switch", "--enable-fast-loading-neuron-binaries"):
            parsed[flag] = True
        else:
            raise SimulatedCompilerError(f"neuronx-cc: unrecognized arguments: {args[i]}")
        i += 1
    return parsed


def visible_core_count() -> int | None:
    """How many NeuronCores the simulated runtime would give this process (None: all, unknown)."""
    env = os.environ
    if env.get("NEURON_RT_VISIBLE_CORES"):
        from neuronkit.targets import parse_core_list

        return len(parse_core_list(env["NEURON_RT_VISIBLE_CORES"]))
    if env.get("NEURON_RT_NUM_CORES"):
        return int(env["NEURON_RT_NUM_CORES"])
    return None
