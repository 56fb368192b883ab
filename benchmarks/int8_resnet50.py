"""ResNet50 int8 on this CPU: neuronkit's precision="int8" next to fp32 and hand-made int8 peers, in one run.

    python benchmarks/int8_resnet50.py [--seconds 3] [--rounds 3] [--batches 1 8] [--calibration 32] [--json FILE]
    python benchmarks/int8_resnet50.py --seconds 0.2 --rounds 1 --batches 1 --calibration 8    # smoke run

In the torch environment (neuronkit[torch,int8]). Configurations, each at every batch size, one
caller on one replica with every core:

- fp32 peers, as users call them: ONNX Runtime's default session on the ``torch.onnx.export`` file,
  and OpenVINO's default ``compile_model`` of the converted module;
- int8 peers set up by hand as their documentation says: ONNX Runtime ``quantize_static`` (QDQ,
  per-channel; S8S8 where the CPU has VNNI or AMX, U8S8 with ``reduce_range`` where not) after
  ``quant_pre_process``, and OpenVINO with ``nncf.quantize``;
- neuronkit ``precision="int8"`` with its default engine, and with the other one.

Calibration is the same ``--calibration`` seeded random images for every int8 configuration (speed
does not depend on the data; accuracy is tested on real photos in tests/torch). Prints the
peer-ratio table of ``neuronkit.bench``: int8 rows are compared with the best int8 peer; the
summary below compares them with the best fp32 peer too, and prints each int8 compile's time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit import bench  # noqa: E402


def main(argv=None) -> int:
    parser = bench.argument_parser(__doc__, seconds=3.0)
    parser.add_argument("--calibration", type=int, default=32, help="calibration images (default 32)")
    args = parser.parse_args(argv)

    import nncf
    import onnxruntime as ort
    import openvino as ov
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quant_pre_process, quantize_static
    from zoo.torch import resnet50

    import neuronkit
    from neuronkit.engines.onnxruntime import int8_settings
    from neuronkit.targets import cpu_features

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model, _ = resnet50()
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, 224, 224)).astype(np.float32) for b in args.batches}
    calibration = [rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(args.calibration)]
    workdir = tempfile.TemporaryDirectory(prefix="neuronkit-bench-int8-")
    compile_seconds = {}

    def onnx_file(batch):
        path = Path(workdir.name, f"resnet50-b{batch}.onnx")
        if not path.exists():
            torch.onnx.export(model, (torch.from_numpy(inputs[batch]),), str(path), input_names=["x"], dynamo=False,
                              opset_version=17)
        return path

    def ort_session(path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda a: session.run(None, {"x": a})

    def ort_fp32(batch):
        return ort_session(onnx_file(batch))

    def ort_int8_by_hand(batch):
        class Reader(CalibrationDataReader):
            def __init__(self):
                self.rows = iter(np.repeat(c, batch, 0) for c in calibration)

            def get_next(self):
                row = next(self.rows, None)
                return None if row is None else {"x": row}

        pre, out = Path(workdir.name, f"pre-b{batch}.onnx"), Path(workdir.name, f"int8-b{batch}.onnx")
        quant_pre_process(str(onnx_file(batch)), str(pre))
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, **int8_settings(cpu_features()))
        return ort_session(out)

    def openvino(quantized):
        def make(batch):
            ov_model = ov.convert_model(model, example_input=torch.from_numpy(inputs[batch]))
            if quantized:
                data = nncf.Dataset([np.repeat(c, batch, 0) for c in calibration])
                ov_model = nncf.quantize(ov_model, data, subset_size=len(calibration))
            request = ov.Core().compile_model(ov_model, "CPU").create_infer_request()
            return lambda a: request.infer([a])
        return make

    def neuronkit_int8(engine):
        def make(batch):
            start = time.perf_counter()
            art = neuronkit.compile(model, "torch", example_inputs=inputs[batch], precision="int8", engine=engine,
                                    calibration=calibration, calibration_size=len(calibration))
            compile_seconds[art.manifest.engine, batch] = time.perf_counter() - start
            return bench.Prepared(neuronkit.load(art), note=art.manifest.engine)
        return make

    configurations = [
        bench.Configuration("ONNX Runtime fp32, default session", "fp32", "peer", ort_fp32, per_batch=True),
        bench.Configuration("OpenVINO fp32, default", "fp32", "peer", openvino(False), per_batch=True),
        bench.Configuration("ONNX Runtime int8 by hand (quantize_static)", "int8", "peer", ort_int8_by_hand,
                            per_batch=True),
        bench.Configuration("OpenVINO int8 by hand (nncf.quantize)", "int8", "peer", openvino(True), per_batch=True),
        bench.Configuration("neuronkit torch int8", "int8", "neuronkit", neuronkit_int8(None), per_batch=True),
        bench.Configuration("neuronkit torch int8", "int8", "neuronkit", neuronkit_int8("openvino"), per_batch=True),
    ]
    title = (f"ResNet50 (torchvision, random weights), {threads} threads, int8 calibrated on {len(calibration)} "
             f"images, onnxruntime {ort.__version__}, openvino {ov.get_version().split('-')[0]}, nncf "
             f"{nncf.__version__}")
    try:
        comparison = bench.run(configurations, inputs, args, title)
    finally:
        workdir.cleanup()
    print()
    for batch in args.batches:
        fp32 = max((r.items_per_s for r in comparison.rows if r.batch == batch and r.configuration.precision == "fp32"),
                   default=0)
        for row in comparison.rows:
            if row.batch == batch and row.configuration.kind == "neuronkit" and fp32:
                print(f"batch {batch}: {row.label} {row.items_per_s:.1f} img/s = {row.items_per_s / fp32:.2f}x the "
                      f"best fp32 peer")
    for (engine, batch), seconds in sorted(compile_seconds.items()):
        print(f"int8 compile ({engine}, batch {batch}, {len(calibration)} calibration images): {seconds:.0f} s")
    return 0 if comparison.ok else 1


if __name__ == "__main__":
    sys.exit(main())
