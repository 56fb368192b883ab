"""Host engines that several backends share. OpenVINO is imported only when a model is loaded."""

from __future__ import annotations

import warnings

#: OpenVINO's ``INFERENCE_PRECISION_HINT`` per neuronkit precision preset.
OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def openvino_model(path, hint: str, threads: int):
    """Compile an OpenVINO IR for this CPU: ``(compiled model, the precision it really runs)``.

    The precision hint is always explicit, because OpenVINO's default on AMX CPUs is bf16; and
    on a CPU without bf16 support (no AVX512-BF16 or AMX) OpenVINO runs a bf16 hint in f32 and
    says so only if asked, so neuronkit asks and warns. ``threads`` is the replica's core group.
    """
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {
        "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY"})
    actual = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if actual != hint:
        warnings.warn(f"this CPU runs the model in {actual}, not {hint} as compiled (OpenVINO found no {hint} support "
                      f"here): results are fine, speed is {actual} speed", RuntimeWarning, stacklevel=3)
    return compiled, actual


def openvino_runner(path, hint: str, threads: int):
    """``(run, precision)``: ``run(inputs)`` feeds arrays in input order and returns the outputs in order."""
    compiled, actual = openvino_model(path, hint, threads)
    request = compiled.create_infer_request()
    return (lambda inputs: [request.infer(list(inputs))[o] for o in compiled.outputs]), actual
