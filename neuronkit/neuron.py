"""The Neuron SDK layer every backend shares: importing an SDK module, precision -> compiler flags,
and what the core checks from a Neuron compile's report.

Backends call the SDK themselves (``torch.neuron.trace``, ``tfn.trace``, ``mx_neuron.compile``...);
what is the same for all of them lives here, once:

- :func:`import_sdk`: the SDK module, or :class:`BackendUnavailable` naming the package and the
  Neuron repository (PyPI's namesakes are placeholders whose import raises ``WRONG PACKAGE``).
- :func:`neuron_cc_flags` / :func:`neuronx_cc_flags`: one table per compiler. How the flags reach
  the compiler differs per framework (the transport), and is said next to each table.
- :func:`check_placement`: ``strict=`` and ``min_on_neuron=`` with one meaning for every backend.
- :func:`simulated_note`: the manifest says so when the SDK module was a simulation.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import warnings

from .errors import BackendUnavailable, CompileError
from .types import CompileReport, Option

NEURON_REPOSITORY = "https://pip.repos.neuron.amazonaws.com"

#: neuron-cc (inf1) per preset: (``--fast-math``, matching ``--fp32-cast``). Source: the neuron-cc
#: command-line reference: ``all`` = ``fp32-cast-all fast-relayout`` (neuron-cc's default, fastest);
#: ``none`` = ``fp32-cast-matmult-bf16 no-fast-relayout`` (its most accurate: NeuronCore-v1 runs
#: matmuls in bf16 at best, there is no setting that casts nothing); an explicit ``--fp32-cast``
#: overrides the cast part of ``--fast-math``.
#: Transport: torch-neuron takes ``compiler_args=[...]``, mx_neuron ``compile_args={'flags': [...]}``;
#: tensorflow-neuron reads ``NEURON_CC_FLAGS`` only, and its parser puts ``--fast-math=none
#: --fp32-cast=matmult-fp16`` ahead of the user's flags (aws-neuron-tensorflow ``neuron_cc_hlo.py``),
#: so for it the matching ``--fp32-cast`` must be given explicitly or fp32 would mean matmult-fp16.
NEURON_CC = {"fp32": ("none", "matmult-bf16"), "bf16": ("all", "all"), "fp16": ("fp32-cast-all-fp16", "all-fp16")}

#: neuronx-cc (inf2, trn1) per preset. Source: the neuronx-cc reference (``--auto-cast none|matmult|all``,
#: ``--auto-cast-type bf16|fp16|tf32|fp8_e4m3``); the default ``--auto-cast`` changed from ``matmult``
#: to ``none`` in SDK 2.27, so it is always given. Transport: torch-neuronx ``compiler_args=[...]``,
#: tensorflow-neuronx ``NEURON_CC_FLAGS``.
NEURONX_CC = {"fp32": ("--auto-cast", "none"), "bf16": ("--auto-cast", "all", "--auto-cast-type", "bf16"),
              "fp16": ("--auto-cast", "all", "--auto-cast-type", "fp16")}

#: tensorflow-neuron warns below this share of operators on Neuron; neuronkit warns for every backend.
WARN_RATIO = 0.5

#: Compile options the core takes for every backend on a Neuron target (and hands on to it).
NEURON_TARGETS = ("inf1", "inf2", "trn1")
OPTIONS = (
    Option("strict", bool, False, "refuse the compile unless every operator is placed on Neuron", NEURON_TARGETS),
    Option("min_on_neuron", float, 0.0, "refuse the compile below this share (0-1) of operators on Neuron",
           NEURON_TARGETS),
    Option("compiler_args", (list, tuple, str), (), "extra compiler flags, after neuronkit's", NEURON_TARGETS),
)

_imported: contextvars.ContextVar[list | None] = contextvars.ContextVar("neuronkit_sdk_modules", default=None)


def import_sdk(module: str, package: str, *, target: str = ""):
    """Import the SDK ``module`` (from pip ``package``), or say where to get it."""
    try:
        sdk = importlib.import_module(module)
    except ImportError as exc:
        why = ("the package installed here is the PyPI placeholder (its import says WRONG PACKAGE)"
               if "WRONG PACKAGE" in str(exc) else f"{module} is not installed")
        raise BackendUnavailable(
            f"{f'target {target} needs ' if target else ''}the Neuron SDK's {package} ({module}); {why}. Install "
            f"the real one from the Neuron repository, on a Neuron instance or build host: pip install {package} "
            f"--extra-index-url={NEURON_REPOSITORY}" + (". Or compile with target='cpu'" if target else "")
        ) from None
    used = _imported.get()
    if used is not None:
        used.append(sdk)
    return sdk


@contextlib.contextmanager
def recording_imports():
    """The SDK modules :func:`import_sdk` returns inside the block (the core wraps each compile)."""
    token = _imported.set([])
    try:
        yield _imported.get()
    finally:
        _imported.reset(token)


def neuron_cc_flags(precision: str, pipeline_cores: int = 1, *, explicit_fp32_cast: bool = False) -> list:
    """neuron-cc flags for a preset; ``explicit_fp32_cast`` for tensorflow-neuron (see :data:`NEURON_CC`)."""
    fast_math, fp32_cast = NEURON_CC[precision]
    flags = ["--fast-math", fast_math] + (["--fp32-cast", fp32_cast] if explicit_fp32_cast else [])
    if pipeline_cores > 1:
        flags += ["--neuroncore-pipeline-cores", str(pipeline_cores)]
    return flags


def neuronx_cc_flags(target: str, precision: str) -> list:
    """neuronx-cc flags for a target and preset."""
    return ["--target", target, *NEURONX_CC[precision]]


def extra_compiler_args(options: dict) -> list:
    """The user's ``compiler_args=`` as a list (a string is split as a shell would)."""
    import shlex

    extra = options.get("compiler_args") or ()
    return shlex.split(extra) if isinstance(extra, str) else [str(f) for f in extra]


def check_placement(report: CompileReport, options: dict) -> None:
    """Refuse a Neuron compile whose report breaks ``strict=`` or ``min_on_neuron=``.

    ``strict=True`` needs every operator on Neuron; ``min_on_neuron=x`` needs that share at least. The
    core applies it to every Neuron compile's report; a backend whose SDK reports operator support
    before compiling (torch's ``analyze_model``) may call it first, to refuse before a long compile.
    """
    strict = bool(options.get("strict", False))
    floor = 1.0 if strict else float(options.get("min_on_neuron", 0.0))
    ratio = report.on_target_ratio
    if floor > 0 and ((ratio is not None and ratio < floor) or (strict and report.unsupported_ops)):
        asked = "strict=True needs all" if strict else f"min_on_neuron={floor:g} needs at least {floor:.1%}"
        raise CompileError(f"{_share(ratio)} of the model's operators were placed on Neuron; {asked}"
                           f"{_left_on_cpu(report)}. Replace the operators left on the CPU, or lower min_on_neuron= "
                           f"/ drop strict=True to accept them running on the host")


def placement_notes(report: CompileReport) -> tuple[str, ...]:
    """Warn (and say in the manifest) when most of the model stays on the host CPU."""
    ratio = report.on_target_ratio
    if ratio is None or ratio >= WARN_RATIO:
        return ()
    message = f"only {_share(ratio)} of operators are on Neuron: most of the model will run on the host CPU"
    warnings.warn(message + _left_on_cpu(report), RuntimeWarning, stacklevel=3)
    return (message + _left_on_cpu(report),)


def _share(ratio: float | None) -> str:
    return "an unknown share" if ratio is None else f"{ratio:.1%}"


def _left_on_cpu(report: CompileReport) -> str:
    return f"; operators left on the CPU: {', '.join(report.unsupported_ops)}" if report.unsupported_ops else ""


def simulated_note(modules) -> tuple[str, ...]:
    """The manifest note for a compile that used a simulated SDK (``module.SIMULATED`` is true)."""
    names = sorted({m.__name__ for m in modules if getattr(m, "SIMULATED", False) is True})
    if not names:
        return ()
    return (f"compiled by a SIMULATED Neuron SDK ({', '.join(names)}, from neuronkit.testing.sim): the model runs "
            f"on the host; nothing ran on Inferentia or Trainium",)
