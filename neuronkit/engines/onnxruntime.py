"""The ONNX Runtime engine: an ONNX model, optimised once when compiled, run by ONNX Runtime's CPU provider.

The saved model is optimised at ``ORT_ENABLE_EXTENDED``: those rewrites are portable between x86
hosts. The hardware-specific layout rewrites of ``ORT_ENABLE_ALL`` are applied when a replica
loads it, on the machine that runs it. Nothing here imports onnx or onnxruntime at module level.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence

import numpy as np

from .. import interfaces
from ..accuracy import measure
from ..calibration import split
from ..errors import ArtifactError, CompileError
from ..interfaces import CompileRequest, CompileResult
from ..targets import cpu_features
from ..types import CompileReport, Component, TensorSpec
from . import ONNXRUNTIME as ENGINE  # noqa: F401 - the declaration, next to its code

MODEL_FILE = "model.onnx"
SAVE_LEVEL = "ORT_ENABLE_EXTENDED"
LOAD_LEVEL = "ORT_ENABLE_ALL"


def finish(model, request: CompileRequest, *, framework: Component | None = None, flags: Sequence[str] = (),
           output_names: Sequence[str] | None = None) -> CompileResult:
    """Check an ONNX model (a ``ModelProto`` or a path), fix its batch as ``request`` asks, optimise it
    into ``request.workdir`` and describe it.

    :param framework: where the model came from (default: onnx itself).
    :param flags: how the backend exported it, recorded ahead of the engine's own flags.
    :param output_names: names for the outputs in the manifest, when the exporter's are not the model's.
    """
    import onnx
    import onnxruntime as ort

    request.progress("checking the ONNX graph")
    if isinstance(model, (str, os.PathLike)):
        model = onnx.load(os.fspath(model))
    if not isinstance(model, onnx.ModelProto):
        raise CompileError(f"the onnxruntime engine takes an onnx.ModelProto or a .onnx path, not "
                           f"{type(model).__name__}")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise CompileError(f"the ONNX model is invalid: {exc}") from None
    model = _without_weight_inputs(model)
    inputs = [_spec(v) for v in model.graph.input]
    batch_free = all(i.shape and i.shape[0] is None for i in inputs)
    dynamic = batch_free if request.dynamic_batch is None else request.dynamic_batch
    if dynamic and not batch_free:
        raise CompileError("dynamic_batch=True needs a model whose inputs leave axis 0 free "
                           "(export it with a dynamic batch axis)")
    if batch_free and not dynamic:
        model = _fix_batch(model, request.batch_size or _example_batch(request.example_inputs) or 1)
        inputs = [_spec(v) for v in model.graph.input]
    elif request.batch_size and not batch_free and inputs[0].shape[0] != request.batch_size:
        raise CompileError(f"the model's batch is fixed at {inputs[0].shape[0]}; batch_size="
                           f"{request.batch_size} needs a model exported with that batch or a free one")
    outputs = [_spec(v) for v in model.graph.output]
    if output_names is not None:
        outputs = [TensorSpec(n, o.dtype, o.shape) for n, o in zip(output_names, outputs, strict=True)]
    calibrate, held_out = split(request.calibration.samples(inputs)) if request.calibration else ([], [])

    fp32, flags = model, list(flags)
    if request.precision == "int8":
        model, settings = _quantized(model, calibrate, request)
        flags += settings
    request.progress("optimising with ONNX Runtime")
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, SAVE_LEVEL)
    options.optimized_model_filepath = str(request.workdir / MODEL_FILE)
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    optimised = onnx.load(str(request.workdir / MODEL_FILE), load_external_data=False)
    accuracy = None
    if held_out:
        request.progress(f"measuring against fp32 on {len(held_out)} held-out calibration samples")
        accuracy = measure(_runner(str(request.workdir / MODEL_FILE)), _runner(fp32.SerializeToString()), held_out)
    ops = len(fp32.graph.node)
    return CompileResult(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        framework=framework or Component("onnx", onnx.__version__),
        compiler=Component("onnxruntime", ort.__version__),
        flags=(*flags, f"graph_optimization_level={SAVE_LEVEL}", f"load: graph_optimization_level={LOAD_LEVEL}"),
        engine="onnxruntime",
        batch_size=None if batch_free and dynamic else inputs[0].shape[0],
        dynamic_batch=dynamic,
        report=CompileReport(ops_total=ops, ops_on_target=ops, accuracy=accuracy,
                             notes=(f"ONNX Runtime optimisation: {ops} nodes -> {len(optimised.graph.node)}",)),
        load={"model": MODEL_FILE},
    )


def int8_settings(features: frozenset, machine: str | None = None) -> dict:
    """Static QDQ quantization that is fast on this CPU. On x86, unsigned activations with signed weights
    (U8S8): VNNI's VPDPBUSD multiplies exactly those, and measured here (Xeon with AVX512-VNNI, ResNet50,
    batch 1) U8S8 ran 3.3x faster than S8S8, which was no faster than fp32. Without VNNI or AMX, AVX2's
    VPMADDUBSW can saturate, so ``reduce_range`` (ONNX Runtime's quantization guide). Elsewhere (ARM),
    S8S8, the guide's default."""
    from onnxruntime.quantization import QuantType

    x86 = (machine or platform.machine()).lower() in ("x86_64", "amd64", "i686", "x86")
    fast_int8 = bool(features & {"avx512_vnni", "avx_vnni", "amx_int8"})
    return {"activation_type": QuantType.QUInt8 if x86 else QuantType.QInt8, "weight_type": QuantType.QInt8,
            "reduce_range": x86 and not fast_int8, "per_channel": True}


def _quantized(model, samples: list, request):
    """The model with int8 weights and activations (QDQ), calibrated on ``samples``; and its flags."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quant_pre_process, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._samples = iter(samples)

        def get_next(self):
            return next(self._samples, None)

    features = cpu_features()
    settings = int8_settings(features)
    prepared, quantized = request.workdir / "int8-pre.onnx", request.workdir / "int8.onnx"
    request.progress(f"quantizing to int8 on {len(samples)} calibration samples (ONNX Runtime, static QDQ)")
    try:
        quant_pre_process(model, str(prepared))
        quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ, **settings)
        result = onnx.load(str(quantized))
    finally:
        prepared.unlink(missing_ok=True)
        quantized.unlink(missing_ok=True)
    isa = ", ".join(sorted(features & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"})) or "unknown"
    flags = [f"quantize_static(QDQ, activation={settings['activation_type'].name}, weight="
             f"{settings['weight_type'].name}, per_channel=True, reduce_range={settings['reduce_range']}, "
             f"calibration samples={len(samples)}, MinMax)", f"host CPU features: {isa}"]
    return result, flags


def _runner(model):
    """``run({name: array}) -> outputs`` of a fresh fp32-or-quantized session on all cores."""
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return lambda sample: session.run(None, sample)


class Replica(interfaces.Replica):
    """One ONNX Runtime session; the core group's size is its thread budget."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LOAD_LEVEL)
        so.intra_op_num_threads = group.size
        so.inter_op_num_threads = 1
        self._names = [t.name for t in artifact.inputs]
        self._session = ort.InferenceSession(str(artifact.file(artifact.manifest.load["model"])), so,
                                             providers=["CPUExecutionProvider"])
        # Inputs are fed by name, so a manifest naming other inputs would fail in onnxruntime at the
        # first call; outputs are read in order (backends may rename them in the manifest).
        found = [i.name for i in self._session.get_inputs()]
        if sorted(found) != sorted(self._names):
            raise ArtifactError(f"the ONNX model's inputs {found} differ from the manifest's {self._names}; the "
                                f"artifact was altered: compile the model again")

    def run(self, inputs):
        return self._session.run(None, dict(zip(self._names, inputs, strict=True)))

    def close(self):
        self._session = None


def _without_weight_inputs(model):
    """Exporters (MXNet's among them) list weights as graph inputs too, which stops ONNX Runtime
    from folding constants; they are not inputs a caller feeds, so drop them."""
    weights = {init.name for init in model.graph.initializer}
    keep = [v for v in model.graph.input if v.name not in weights]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    return model


def _spec(value_info) -> TensorSpec:
    from onnx import helper

    t = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)
    return TensorSpec(value_info.name, np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name, dims)


def _example_batch(example_inputs):
    first = next(iter(example_inputs.values())) if isinstance(example_inputs, dict) else (
        example_inputs[0] if example_inputs else None)
    return int(first.shape[0]) if first is not None and getattr(first, "shape", None) else None


def _fix_batch(model, size: int):
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = size
    return model
