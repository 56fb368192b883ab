"""The OpenVINO engine: an OpenVINO IR with fp32 weights, run at the precision the manifest asks for.

The precision is a load-time hint (``INFERENCE_PRECISION_HINT`` f32 or bf16) and always explicit,
because OpenVINO's default on AMX CPUs is bf16. A CPU without bf16 support (no AVX512-BF16 or
AMX) runs a bf16 hint in f32 and says so only if asked, so the replica asks and warns.
Backends convert their model with ``openvino.convert_model`` (from the framework's model object,
or from an ONNX export) and hand it to :func:`finish`. Nothing here imports openvino at module level.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .. import interfaces
from ..accuracy import measure
from ..calibration import split
from ..errors import CompileError
from ..interfaces import CompileRequest, CompileResult
from ..types import CompileReport, Component, TensorSpec
from . import OPENVINO as ENGINE  # noqa: F401 - the declaration, next to its code

MODEL_FILE = "model.xml"
#: OpenVINO's ``INFERENCE_PRECISION_HINT`` per neuronkit precision preset (an int8 model runs its
#: quantized operations in int8 and the rest in f32).
PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def finish(ov_model, request: CompileRequest, inputs: Sequence[TensorSpec], *, framework: Component,
           output_names: Sequence[str] | None = None, flags: Sequence[str] = (),
           report: CompileReport | None = None) -> CompileResult:
    """Save a converted ``openvino.Model`` into ``request.workdir`` as IR, with the signature ``inputs``.

    Ports are matched to ``inputs`` by name (OpenVINO may add ``:0`` or a prefix), else by position,
    and renamed to the manifest's names; the model is reshaped to the inputs' shapes (``None``, the
    free batch, becomes dynamic). Output specs are read from the reshaped model.

    :param framework: where the model came from.
    :param output_names: names for the outputs (default: OpenVINO's).
    :param flags: how the backend converted it, recorded ahead of the engine's own flags.
    :param report: the backend's operator counts, if it has them.
    """
    import openvino as ov

    if request.precision not in PRECISION_HINT:
        raise CompileError(f"engine 'openvino' runs {', '.join(PRECISION_HINT)}, not {request.precision}")
    in_ports = _match_ports(ov_model.inputs, [i.name for i in inputs], "input")
    for port, spec in zip(in_ports, inputs, strict=True):
        port.get_tensor().set_names({spec.name})
    ov_model.reshape({spec.name: ov.PartialShape([-1 if d is None else d for d in spec.shape]) for spec in inputs})
    names = list(output_names) if output_names is not None else [_name(p, i) for i, p in enumerate(ov_model.outputs)]
    out_ports = _match_ports(ov_model.outputs, names, "output")
    outputs = []
    for port, name in zip(out_ports, names, strict=True):
        port.get_tensor().set_names({name})
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        outputs.append(TensorSpec(name, port.get_element_type().to_dtype().name, shape))
    calibrate, held_out = split(request.calibration.samples(inputs)) if request.calibration else ([], [])
    fp32, flags = ov_model, list(flags)
    if request.precision == "int8":
        ov_model = _quantized(ov_model, calibrate, request)
        flags.append(f"nncf.quantize(subset_size={len(calibrate)}) (nncf {_version('nncf')})")
    request.progress("saving the OpenVINO IR")
    ov.save_model(ov_model, str(request.workdir / MODEL_FILE), compress_to_fp16=False)
    hint = PRECISION_HINT[request.precision]
    dynamic = inputs[0].shape[0] is None
    report = report or CompileReport(notes=("every operator runs on the host CPU through OpenVINO",))
    if held_out:
        request.progress(f"measuring against fp32 on {len(held_out)} held-out calibration samples")
        report = replace(report, accuracy=measure(_runner(str(request.workdir / MODEL_FILE), hint),
                                                  _runner(fp32, "f32"), held_out))
    return CompileResult(
        inputs=tuple(inputs), outputs=tuple(outputs), framework=framework,
        compiler=Component("openvino", ov.get_version()), engine="openvino",
        flags=(*flags, "openvino.save_model(compress_to_fp16=False)", f"load: INFERENCE_PRECISION_HINT={hint}"),
        batch_size=None if dynamic else inputs[0].shape[0], dynamic_batch=dynamic,
        report=report,
        load={"model": MODEL_FILE, "precision_hint": hint, "ov_inputs": [i.name for i in inputs],
              "ov_outputs": names},
    )


class Replica(interfaces.Replica):
    """One compiled OpenVINO model and its infer request; the core group's size is its thread budget.

    :attr:`precision` is the precision OpenVINO really runs (``f32`` or ``bf16``)."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        import openvino as ov

        m = artifact.manifest
        hint = m.load.get("precision_hint") or PRECISION_HINT[m.precision]
        self._compiled = ov.Core().compile_model(str(artifact.file(m.load["model"])), "CPU", {
            "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": group.size, "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY"})
        self.precision = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if self.precision != hint:
            warnings.warn(f"this CPU runs the model in {self.precision}, not {hint} as compiled (OpenVINO found no "
                          f"{hint} support here): results are fine, speed is {self.precision} speed",
                          RuntimeWarning, stacklevel=4)
        self._request = self._compiled.create_infer_request()
        # Artifacts written before ports were named by the manifest are fed and read in order.
        self._inputs = m.load.get("ov_inputs")
        names = m.load.get("ov_outputs")
        self._outputs = [self._compiled.output(n) for n in names] if names else list(self._compiled.outputs)

    def run(self, inputs):
        feed = dict(zip(self._inputs, inputs, strict=True)) if self._inputs else list(inputs)
        result = self._request.infer(feed)
        return [np.array(result[port]) for port in self._outputs]

    def close(self):
        self._compiled = self._request = None


def _quantized(ov_model, samples: list, request):
    """Post-training quantization with NNCF (``nncf.quantize``), calibrated on ``samples``."""
    import nncf

    request.progress(f"quantizing to int8 on {len(samples)} calibration samples (NNCF)")
    return nncf.quantize(ov_model, nncf.Dataset(samples), subset_size=len(samples))


def _runner(model, hint: str):
    """``run({name: array}) -> outputs`` of a model compiled for this CPU at ``hint``, on all cores."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    return lambda sample: [np.array(v) for v in compiled(sample).values()]


def _version(module: str) -> str:
    from importlib.metadata import version

    return version(module)


def _name(port, index: int) -> str:
    names = sorted(port.get_names())
    return names[0].split(":")[0] if names else f"output_{index}"


def _match_ports(ports, names, what):
    """OpenVINO's port for each of our names: the same name, ``name:0``, or a name ending in it; else,
    when the counts agree, the port in the same position."""
    if len(ports) != len(names):
        raise CompileError(f"OpenVINO's converted model has {len(ports)} {what}s, the signature {len(names)}")
    found = []
    for i, name in enumerate(names):
        match = next((p for p in ports if name in p.get_names() or f"{name}:0" in p.get_names()
                      or any(n.split(":")[0].endswith(name) for n in p.get_names())), None)
        found.append(match if match is not None else ports[i])
    return found
