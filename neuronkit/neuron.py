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
import os
import re
import shlex
import warnings
from dataclasses import dataclass

from .errors import BackendUnavailable, CompileError
from .targets import get_target
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
              "fp16": ("--auto-cast", "all", "--auto-cast-type", "fp16"),
              "fp8": ("--auto-cast", "all", "--auto-cast-type", "fp8_e4m3")}  # trn2+ (Target.precisions)

#: The ``--target`` values the neuronx-cc reference lists (compiler/neuronx-cc/api-reference-guide,
#: 2026-08-17). It lists no trn3, though an NKI example passes ``--target trn3``: neuronkit does not.
NEURONX_CC_TARGETS = ("inf2", "trn1", "trn1n", "trn2")

#: tensorflow-neuron warns below this share of operators on Neuron; neuronkit warns for every backend.
WARN_RATIO = 0.5

#: Compile options the core takes for every backend on a Neuron target (and hands on to it).
NEURON_TARGETS = ("inf1", "inf2", "trn1", "trn2", "trn3")
OPTIONS = (
    Option("strict", bool, False, "refuse the compile unless every operator is placed on Neuron", NEURON_TARGETS),
    Option("min_on_neuron", float, 0.0, "refuse the compile below this share (0-1) of operators on Neuron",
           NEURON_TARGETS),
    Option("compiler_args", (list, tuple, str), (), "extra compiler flags, after neuronkit's", NEURON_TARGETS),
    Option("logical_cores", int, None, "physical NeuronCores per logical core (LNC, --logical-nc-config): 1 or 2 "
           "on trn2/trn3 (default 2); inf2 and trn1 take 1", ("inf2", "trn1", "trn2", "trn3")),
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


def neuronx_cc_flags(target: str, precision: str, logical_cores: int | None = None) -> list:
    """neuronx-cc flags for a target and preset, with ``--logical-nc-config`` where the target has logical
    cores (trn2: default 2; the runtime's ``NEURON_LOGICAL_NC_CONFIG`` must match, and the core sets it)."""
    if target not in NEURONX_CC_TARGETS:
        raise CompileError(f"neuronx-cc's reference lists --target {', '.join(NEURONX_CC_TARGETS)}, not {target} "
                           f"(an NKI example passes --target trn3, but the compiler documents no such target); "
                           f"for trn3 use the torch backend's engine='native' (TorchNeuron compiles on the device)")
    return ["--target", target, *neuronx_cc_casts(target, precision, logical_cores)]


def neuronx_cc_casts(target: str, precision: str, logical_cores: int | None = None) -> list:
    """The precision and logical-core flags alone: what native TorchNeuron, which compiles for the
    device it runs on, takes in ``NEURON_CC_FLAGS``."""
    lnc = logical_cores or next(iter(get_target(target).logical_cores), None)
    return [*NEURONX_CC[precision]] + (["--logical-nc-config", str(lnc)] if lnc else [])


@contextlib.contextmanager
def flags_in_environment(flags: list, **variables: str):
    """Set ``NEURON_CC_FLAGS`` (and ``variables``) for one compile, restoring them afterwards. Flags the
    user already set come last, so theirs win where the compiler takes the right-most value."""
    value = " ".join(shlex.quote(f) for f in flags)
    if os.environ.get("NEURON_CC_FLAGS"):
        value = f"{value} {os.environ['NEURON_CC_FLAGS']}".strip()
    with environment(NEURON_CC_FLAGS=value, **variables):
        yield value


@contextlib.contextmanager
def environment(**variables: str):
    """Set the non-empty ``variables`` for the block, then put back what was there."""
    previous = {key: os.environ.get(key) for key in variables}
    os.environ.update({k: v for k, v in variables.items() if v})
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def extra_compiler_args(options: dict) -> list:
    """The user's ``compiler_args=`` as a list (a string is split as a shell would)."""
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


# -- support status

#: The Neuron release the support statuses below describe: the latest found (Neuron 2.33.1, 2026-11-11).
#: Each row's ``source`` names the aws-neuron-sdk documents it comes from.
AS_OF = "Neuron 2.33.1"


@dataclass(frozen=True)
class SdkSupport:
    """The support status of one package, as of :attr:`as_of`, and where that is written."""

    package: str                  # what pip installs (Neuron SDK packages: from the Neuron repository)
    module: str                   # what is imported
    status: str                   # supported, beta, maintenance, legacy, end of support, archived, retired
    detail: str                   # one sentence: since when, what is left
    source: str                   # the document (and the pages it cites)
    instead: str = ""             # what to do instead, when it is not supported
    as_of: str = AS_OF
    kind: str = "Neuron SDK"      # or "framework"
    targets: tuple = ()           # neuronkit targets it serves
    backends: tuple = ()          # neuronkit's built-in backends that call it for those targets
    python: tuple = ()            # Python versions its last release ships for
    newer: tuple = ()             # ((first version, status, detail), ...): a later line of the package

    @property
    def supported(self) -> bool:
        return self.status == "supported"

    def for_version(self, version: str) -> tuple[str, str]:
        """``(status, detail)`` of the installed ``version`` (torch-neuronx 2.13+ is another stack)."""
        installed = version_tuple(version)
        for first, status, detail in self.newer:
            if installed and installed >= version_tuple(first):
                return status, detail
        return self.status, self.detail


#: The support status of every Neuron SDK package neuronkit knows (and of MXNet itself), in one place.
SUPPORT = {row.package: row for row in (
    # archive/index.rst (archived 3/11/2026, "last release supported: Neuron 2.22.0"); 2.32.0 manifest
    SdkSupport("torch-neuron", "torch_neuron", "archived",
               "no longer officially supported: its docs were archived on 2026-03-11, the last release supporting "
               "it was Neuron 2.22.0 (the 2.32.0 manifest still lists 1.13.1.2.11.13.0); Inf1 only, PyTorch 1.13.1 "
               "at most", "aws-neuron-sdk archive/index.rst, n2-manifest.json",
               instead="compile for inf2/trn1 (torch-neuronx) or the cpu target; to keep Inf1, pin Neuron 2.22",
               targets=("inf1",), backends=("torch",), python=("3.9", "3.10")),
    # archive/index.rst ("TensorFlow is no longer officially supported"); manifest: absent from 2.29
    SdkSupport("tensorflow-neuron", "tensorflow_neuron", "end of support",
               "TensorFlow is no longer officially supported: docs archived on 2026-03-11, last supported in Neuron "
               "2.22.0, absent from the release manifest since 2.29; TensorFlow 2.10.1 at most",
               "aws-neuron-sdk archive/index.rst, n2-manifest.json",
               instead="use the torch backend on inf2/trn1, or TensorFlow on the cpu target; to keep Inf1, pin "
                       "Neuron 2.22", targets=("inf1",), backends=("tf",), python=("3.9", "3.10")),
    # announce-no-longer-support-tensorflow-inf2.rst (2.28 was the last release supporting it)
    SdkSupport("tensorflow-neuronx", "tensorflow_neuronx", "end of support",
               "support for Inf2 ended in Neuron 2.29 (2.28 was the last release with it); TensorFlow 2.10.1 at most",
               "aws-neuron-sdk announce-no-longer-support-tensorflow-inf2.rst",
               instead="use the torch backend on inf2/trn1, or TensorFlow on the cpu target; to keep it, pin "
                       "Neuron 2.28", targets=("inf2", "trn1"), backends=("tf",), python=("3.10", "3.11", "3.12")),
    # announce-maintenance-mxnet.rst (2.19), archive/index.rst (archived 3/11/2026, last 2.27.0)
    SdkSupport("mx_neuron", "mx_neuron", "archived",
               "in maintenance since Neuron 2.19, docs archived on 2026-03-11, last supported in Neuron 2.27.0; "
               "MXNet 1.8, which Apache retired in 2023",
               "aws-neuron-sdk announce-maintenance-mxnet.rst, archive/index.rst",
               instead="export the model to ONNX and use the onnx backend on the cpu target, or move to the torch "
                       "backend on inf2/trn1", targets=("inf1",), backends=("mxnet",), python=("3.9", "3.10")),
    # as mx_neuron; MXNet 1.5 needs Neuron runtime 1.x (introducing-libnrt.rst)
    SdkSupport("mxnet_neuron", "mxnet.contrib.neuron", "archived",
               "MXNet 1.5 on Neuron runtime 1.x (neuron-rtd), which runtime 2.x does not support; in maintenance "
               "since Neuron 2.19, archived on 2026-03-11, last supported in Neuron 2.27.0",
               "aws-neuron-sdk announce-maintenance-mxnet.rst, archive/appnotes/neuron1x/introducing-libnrt.rst",
               instead="export the model to ONNX and use the onnx backend on the cpu target",
               targets=("inf1",), backends=("mxnet",), python=("3.9", "3.10")),
    # "No explicit EOS notice found; the rest of the Inf1 stack is archived"
    SdkSupport("neuron-cc", "neuroncc", "legacy",
               "Inf1's compiler: no end-of-support notice found, but every framework integration that calls it "
               "is archived; 1.24.0.0 in the 2.32.0 manifest", "aws-neuron-sdk n2-manifest.json",
               instead="compile for inf2/trn1 (neuronx-cc)", targets=("inf1",), python=("3.9", "3.10")),
    # neuronx-cc 2.28.7631.0 in Neuron 2.33.0 (release-notes/components/index.html), active
    SdkSupport("neuronx-cc", "neuronxcc", "supported", "active; 2.28.7631.0 ships with Neuron 2.33.0",
               "aws-neuron-sdk v2.33.0 release-notes/components", targets=("inf2", "trn1", "trn2", "trn3"),
               python=("3.11", "3.12", "3.13")),
    # announce-maintenance-pytorch-xla-inference.rst (2.31); 2.33.0 component index, torchneuron.html
    SdkSupport("torch-neuronx", "torch_neuronx", "maintenance",
               "the XLA stack neuronkit calls (torch_neuronx.trace, PyTorch 2.9) is in maintenance for inference "
               "since Neuron 2.31 (critical fixes only) and left the DLAMIs and DLCs in 2.32",
               "aws-neuron-sdk announce-maintenance-pytorch-xla-inference.rst; v2.33.0 release-notes/components",
               instead="keep torch-neuronx 2.9 (the last XLA line) for inf2/trn1 "
               "artifacts; plan for native TorchNeuron on trn2/trn3 (engine='native')",
               targets=("inf2", "trn1", "trn2", "trn3"),
               backends=("torch",), python=("3.11", "3.12", "3.13"),
               newer=(("2.13", "beta", "native TorchNeuron (torch-neuronx 2.13/2.14): a public beta from Neuron "
                                       "2.33.0 for trn2/trn3 only, without the torch_neuronx.trace neuronkit's "
                                       "torch backend calls for inf2/trn1"),)),
    # archive/index.rst (NeuronPerf docs archived 12/2/2025, "last release supported Neuron 2.27.0")
    SdkSupport("neuronperf", "neuronperf", "archived",
               "docs archived on 2025-12-02, last supported in Neuron 2.27.0", "aws-neuron-sdk archive/index.rst",
               instead="neuronkit bench measures every backend"),
    # Apache moved MXNet to the Attic in 2023 (attic.apache.org/projects/mxnet.html)
    SdkSupport("mxnet", "mxnet", "retired",
               "Apache retired MXNet to the Apache Attic in 2023: no releases or security fixes since",
               "Apache Attic, attic.apache.org/projects/mxnet.html ", as_of="2023",
               instead="export the model to ONNX and use the onnx backend", kind="framework",
               backends=("mxnet",)),
)}


def version_tuple(version: str) -> tuple:
    """``"2.13.3.0"`` -> ``(2, 13, 3, 0)``; the numbers before the first part that is not one."""
    parts = []
    for piece in version.strip().split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


#: What a compile warns about: the SDK no longer supports the target (maintenance still does).
UNSUPPORTED = ("end of support", "archived", "retired")
_warned: set = set()


def support_rows(backend: str, target: str) -> list[SdkSupport]:
    """The SDK packages the ``backend`` calls for ``target``, from :data:`SUPPORT`."""
    return [row for row in SUPPORT.values() if backend in row.backends and target in row.targets]


def support_warning(backend: str, target: str) -> str | None:
    """Once per process and (backend, target): what to know when its SDK is past end of support."""
    rows = [row for row in support_rows(backend, target) if row.status in UNSUPPORTED]
    if not rows or (backend, target) in _warned:
        return None
    _warned.add((backend, target))
    row = rows[0]
    return (f"{row.package}, which the {backend} backend calls for {target}, is {row.status} as of {row.as_of}: "
            f"{row.detail}. {row.instead}")
