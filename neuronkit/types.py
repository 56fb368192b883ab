"""Frozen records that hooks return and that the manifest is built from.

Backends describe themselves with data (:class:`BackendSpec`), never with ``if framework == ...``
branches in the core (the keras 3 habit): the core reads targets, engines, precisions and
capability flags from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .targets import get_target

#: fp8 is neuronx-cc's ``--auto-cast-type fp8_e4m3`` (trn2 and later); int8 the cpu target's quantization
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8", "fp8")

#: Capability flags a backend may declare. The core checks them before calling the backend.
CAPABILITIES = frozenset({"dynamic_batch", "pipeline"})


@dataclass(frozen=True)
class EngineSpec:
    """A host engine of the ``cpu`` target, as data: what it needs and what it runs.

    The core owns two (:mod:`neuronkit.engines`: ``onnxruntime`` and ``openvino``), with their
    compile step and replica; a backend names them in :attr:`BackendSpec.engines`, or declares an
    engine of its own (``torchscript``, ``savedmodel``...) whose compiler and replica it writes.

    :param name: what users pass as ``engine=``.
    :param precisions: the presets it runs, the one ``auto`` means first.
    :param requires: importable modules it needs (a backend may add its exporter's: :meth:`needing`).
    :param install_hint: the command that installs them.
    :param any_batch: runs any batch natively; otherwise the core pads and splits to the compiled one.
    :param precision_requires: ``((precision, (module, ...), install hint), ...)``: what one precision
        needs besides (int8's quantization tools).
    """

    name: str
    precisions: tuple[str, ...] = ("fp32",)
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    any_batch: bool = True
    precision_requires: tuple = ()

    def requires_for(self, precision: str) -> tuple[tuple[str, ...], str]:
        """``(modules, install hint)`` the engine needs to compile ``precision``."""
        for name, modules, hint in self.precision_requires:
            if name == precision:
                return self.requires + tuple(modules), hint
        return self.requires, self.install_hint

    def __post_init__(self):
        bad = set(self.precisions) - set(PRECISIONS[1:])
        if bad or not self.precisions:
            raise ValueError(f"engine {self.name!r}: precisions {list(self.precisions)}; choose from {PRECISIONS[1:]}")

    def needing(self, *modules: str, install_hint: str = "") -> EngineSpec:
        """The same engine needing more modules (the backend's exporter, say)."""
        from dataclasses import replace

        return replace(self, requires=tuple(dict.fromkeys(self.requires + modules)),
                       install_hint=install_hint or self.install_hint)


@dataclass(frozen=True)
class Option:
    """A compile or load option a backend (or the core) accepts, declared so typos are caught.

    :param name: the keyword, as passed to ``neuronkit.compile(..., name=value)``.
    :param type: accepted type(s); a ``float`` option takes ints too, an ``int`` one never bools.
    :param default: what the backend does when it is not given.
    :param help: one line for ``neuronkit backends --options``.
    :param targets: the targets it applies to; empty for all.
    """

    name: str
    type: type | tuple = object
    default: Any = None
    help: str = ""
    targets: tuple[str, ...] = ()

    @property
    def types(self) -> tuple:
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        return kinds + ((int,) if float in kinds else ())

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) and bool not in self.types and object not in self.types:
            return False
        return isinstance(value, self.types)

    def type_name(self) -> str:
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        return " or ".join("any" if k is object else k.__name__ for k in kinds)


@dataclass(frozen=True)
class ExportFormat:
    """A layout ``neuronkit export ART --NAME DEST`` writes, registered by ``neuronkit_export_formats``.

    :param name: the option's name (``"tf-serving"`` gives ``--tf-serving DEST``).
    :param help: one line for ``neuronkit export --help``.
    :param exporter: import path ``"module:function"`` of ``export(artifact, dest, version) -> list[str]``
        (``version`` is ``None`` unless the user passed ``--version``); it returns lines to print.
    :param backends: the backends whose artifacts it takes; empty for any.
    :param plugin: filled in by neuronkit: the plugin (distribution) that registered it.
    """

    name: str
    help: str
    exporter: str
    backends: tuple[str, ...] = ()
    plugin: str = ""

    def __post_init__(self):
        object.__setattr__(self, "name", normalise_name(self.name))


@dataclass(frozen=True)
class BackendSpec:
    """One backend, as registered by the ``neuronkit_backends`` hook.

    :param name: what users pass as ``framework=`` (normalised to lower case).
    :param framework: human name of the framework, e.g. ``"PyTorch"``.
    :param compiler: import path ``"module:Class"`` of the backend's :class:`neuronkit.Compiler`;
        imported only when something is compiled, so registration stays cheap.
    :param replica: import path of the backend's :class:`neuronkit.Replica`, for its Neuron targets and
        its own engines (the core's engines bring their own); empty when it needs none.
    :param targets: targets it compiles for (``cpu``, ``inf1``, ``inf2``, ``trn1``).
    :param engines: host engines for the ``cpu`` target, in order of preference: for a precision,
        the first one installed that runs it is the default. A name (``"onnxruntime"``,
        ``"openvino"``) takes the core's engine; an :class:`EngineSpec` (or another name) declares the
        backend's own.
    :param precisions: precision presets it accepts besides ``auto`` (on the ``cpu`` target, the
        engines' precisions decide; see :meth:`precisions_for`).
    :param aliases: other names that select it (``pytorch`` for ``torch``).
    :param capabilities: flags from :data:`CAPABILITIES`.
    :param requires: importable module names the backend needs; checked without importing them.
    :param install_hint: the command that installs what ``requires`` names.
    :param selftest: import path of a function returning ``(model, example_inputs)``: a tiny
        model ``neuronkit selftest`` compiles for every target the host can run.
    :param model_files: the model files or folders it compiles from a path, in words (``"ONNX
        files (.onnx)"``): messages list them when no backend recognises a file.
    :param compile_options: :class:`Option` s ``neuronkit.compile`` takes for this backend; any
        other keyword is refused, naming the closest.
    :param load_options: the same for ``neuronkit.load``.
    :param neuron_engines: ``{target: (EngineSpec, ...)}``: where the backend has more than one way
        to compile for a Neuron target (torch on trn2: ``trace``, ``native``), the first the default;
        each engine's ``precisions`` say what it runs there.
    :param plugin: filled in by neuronkit: the plugin (distribution) that registered it.
    """

    name: str
    framework: str
    compiler: str
    replica: str = ""
    targets: tuple[str, ...] = ("cpu",)
    engines: tuple = ()
    precisions: tuple[str, ...] = ("fp32",)
    aliases: tuple[str, ...] = ()
    capabilities: frozenset = frozenset()
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    selftest: str = ""
    model_files: str = ""
    compile_options: tuple[Option, ...] = ()
    load_options: tuple[Option, ...] = ()
    neuron_engines: dict = field(default_factory=dict)
    plugin: str = ""

    def __post_init__(self):
        object.__setattr__(self, "name", normalise_name(self.name))
        object.__setattr__(self, "engines", tuple(self.engines))
        object.__setattr__(self, "aliases", tuple(normalise_name(a) for a in self.aliases))
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        unknown = self.capabilities - CAPABILITIES
        if unknown:
            raise ValueError(f"backend {self.name!r}: unknown capabilities {sorted(unknown)}; "
                             f"known: {sorted(CAPABILITIES)}")
        bad = set(self.precisions) - set(PRECISIONS)
        if bad:
            raise ValueError(f"backend {self.name!r}: unknown precisions {sorted(bad)}; known: {PRECISIONS}")

    def with_engines(self, host_engines: dict) -> BackendSpec:
        """The spec with every engine an :class:`EngineSpec`: a name takes the core's engine of that name
        (``host_engines``), or declares one of the backend's own that runs the backend's precisions.
        The core does this when it registers a backend."""
        from dataclasses import replace

        own = tuple(p for p in self.precisions if p != "auto") or ("fp32",)
        return replace(self, engines=tuple(
            host_engines.get(e) or EngineSpec(e, own) if isinstance(e, str) else e for e in self.engines))

    def engine(self, name: str) -> EngineSpec | None:
        return next((e for e in self.engines if e.name == name), None)

    def precisions_for(self, target: str) -> tuple[str, ...]:
        """The presets it compiles for ``target``: its engines' on ``cpu``; elsewhere its own (or its
        Neuron engines' there) that the target's hardware runs."""
        if target == "cpu" and self.engines:
            return tuple(p for p in PRECISIONS[1:] if any(p in e.precisions for e in self.engines))
        engines = self.neuron_engines.get(target, ())
        own = tuple(p for p in PRECISIONS[1:] if any(p in e.precisions for e in engines)) if engines \
            else self.precisions
        hardware = get_target(target).precisions if target != "cpu" else own
        return tuple(p for p in own if p in hardware)


def normalise_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of one model input or output; ``None`` marks a free dimension."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def __post_init__(self):
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        object.__setattr__(self, "shape", tuple(None if d is None else int(d) for d in self.shape))

    def describe(self) -> str:
        dims = ", ".join("N" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: dict) -> TensorSpec:
        return cls(data["name"], data["dtype"], tuple(data["shape"]))

    @classmethod
    def of(cls, name: str, array, batch_free: bool = False) -> TensorSpec:
        """The spec of an example array; ``batch_free`` leaves axis 0 free."""
        shape = tuple(array.shape)
        if batch_free and shape:
            shape = (None,) + shape[1:]
        return cls(name, _dtype_name(array), shape)


def _dtype_name(array) -> str:
    dtype = array.dtype
    try:
        return np.dtype(dtype).name
    except TypeError:  # framework dtypes such as torch.float32
        return str(dtype).rsplit(".", 1)[-1]


@dataclass(frozen=True)
class CompileReport:
    """What the compiler did: how much of the model runs on the target, and how long it took.

    ``ops_total``/``ops_on_target`` count framework operators; on the ``cpu`` target every operator
    runs on the host, so the ratio is 1.0 and says nothing about Neuron.
    """

    ops_total: int | None = None
    ops_on_target: int | None = None
    unsupported_ops: tuple[str, ...] = ()
    compile_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    #: the compiled model against the fp32 one on held-out calibration data (:mod:`neuronkit.accuracy`'s
    #: measures, with "reference" and "samples"); None when no calibration data was given
    accuracy: dict | None = None

    @property
    def on_target_ratio(self) -> float | None:
        if not self.ops_total or self.ops_on_target is None:
            return None
        return self.ops_on_target / self.ops_total

    def to_dict(self) -> dict:
        return {
            "ops_total": self.ops_total,
            "ops_on_target": self.ops_on_target,
            "on_target_ratio": self.on_target_ratio,
            "unsupported_ops": list(self.unsupported_ops),
            "compile_seconds": self.compile_seconds,
            "notes": list(self.notes),
            "accuracy": self.accuracy,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CompileReport:
        return cls(data.get("ops_total"), data.get("ops_on_target"), tuple(data.get("unsupported_ops", ())),
                   float(data.get("compile_seconds", 0.0)), tuple(data.get("notes", ())), data.get("accuracy"))


@dataclass(frozen=True)
class Component:
    """A named, versioned piece of the toolchain recorded in the manifest."""

    name: str
    version: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes a model input: ``neuronkit predict ART cat.png`` reads this.

    ``mean``/``std`` apply to pixel values scaled by ``scale`` in ``channel_order``.
    """

    layout: str = "NCHW"
    channel_order: str = "RGB"
    scale: float = 1 / 255
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    labels: str = ""  # "imagenet" selects the bundled ImageNet class names

    def to_dict(self) -> dict:
        return {"layout": self.layout, "channel_order": self.channel_order, "scale": self.scale,
                "mean": list(self.mean), "std": list(self.std), "labels": self.labels}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocess:
        return cls(data["layout"], data["channel_order"], float(data["scale"]), tuple(data["mean"]),
                   tuple(data["std"]), data.get("labels", ""))

