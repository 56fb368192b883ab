"""ResNet50 on this CPU: neuronkit's torch configurations next to the peers, measured in one run.

    python benchmarks/torch_resnet50.py [--seconds 3] [--rounds 3] [--batches 1 8] [--inductor] [--json FILE]
    python benchmarks/torch_resnet50.py --seconds 0.2 --rounds 1 --batches 1     # smoke run

Configurations, each at every batch size, one caller on one replica with every core, so the
figures compare engines, not parallelism:

- peers: torch eager (fp32), ``torch.compile`` with freezing (fp32, with ``--inductor``: slow to
  compile), ONNX Runtime on the ``torch.onnx.export`` file (fp32), OpenVINO converting the module
  directly with the ``f32`` and ``bf16`` ``INFERENCE_PRECISION_HINT`` (the row says what it ran);
- neuronkit torch at fp32 and bf16 through ``neuronkit.load(...)`` (the row names the engine);
- at batch 1, a reference row: the fp32 Runtime's own replica called directly, measured right
  after the Runtime in every round, for the Runtime's overhead printed under the table.

Prints the peer-ratio table of ``neuronkit.bench`` (each row's images/s and its ratio to the best
peer at the same precision and batch; rounds interleave the configurations). The weights are
random (seeded): speed does not depend on them.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit import bench  # noqa: E402


def main(argv=None) -> int:
    parser = bench.argument_parser(__doc__, seconds=3.0)
    parser.add_argument("--inductor", action="store_true", help="also torch.compile (slow to compile)")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import openvino as ov
    import torch
    from zoo.torch import resnet50

    import neuronkit

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model, _ = resnet50()
    inputs = {b: np.random.default_rng(0).standard_normal((b, 3, 224, 224)).astype(np.float32) for b in args.batches}
    runtimes = {}  # (precision, batch) -> the neuronkit Runtime, for the reference row
    workdir = tempfile.TemporaryDirectory(prefix="neuronkit-bench-torch-")  # the ONNX files

    def torch_eager(batch):
        # no_grad wraps the callable: grad mode is per thread, and measure() calls from its own threads.
        return torch.no_grad()(lambda a: model(torch.from_numpy(a)))

    def torch_compile(batch):
        compiled = torch.compile(model, options={"freezing": True})
        return torch.no_grad()(lambda a: compiled(torch.from_numpy(a)))

    def onnxruntime_direct(batch):
        onnx_path = Path(workdir.name, f"resnet50-b{batch}.onnx")
        torch.onnx.export(model, (torch.from_numpy(inputs[batch]),), str(onnx_path), input_names=["x"], dynamo=False,
                          opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        return lambda a: session.run(None, {"x": a})

    def openvino_direct(hint):
        def make(batch):
            ov_model = ov.convert_model(model, example_input=torch.from_numpy(inputs[batch]))
            compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                                 "PERFORMANCE_HINT": "LATENCY"})
            runs = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            request = compiled.create_infer_request()
            return bench.Prepared(lambda a: request.infer([a]), note=f"runs {runs}")
        return make

    def neuronkit_torch(precision):
        def make(batch):
            art = neuronkit.compile(model, "torch", example_inputs=inputs[batch], precision=precision)
            rt = runtimes[precision, batch] = neuronkit.load(art)
            return bench.Prepared(rt, note=art.manifest.engine)
        return make

    def runtime_replica(batch):
        if ("fp32", batch) not in runtimes:
            raise RuntimeError("the neuronkit torch fp32 configuration did not load")
        replica = runtimes["fp32", batch].replicas[0]  # called while its Runtime is idle
        return lambda a: replica.run([a])

    configurations = [bench.Configuration("torch eager", "fp32", "peer", torch_eager, per_batch=True)]
    if args.inductor:
        configurations.append(bench.Configuration("torch.compile freezing", "fp32", "peer", torch_compile,
                                                  per_batch=True))
    ours = bench.Configuration("neuronkit torch", "fp32", "neuronkit", neuronkit_torch("fp32"), per_batch=True)
    replica = bench.Configuration("neuronkit torch fp32, its replica called directly", "fp32", "reference",
                                  runtime_replica, per_batch=True, batches=(1,))
    configurations += [
        bench.Configuration("ONNX Runtime (direct)", "fp32", "peer", onnxruntime_direct, per_batch=True),
        bench.Configuration("OpenVINO direct, f32 hint", "fp32", "peer", openvino_direct("f32"), per_batch=True),
        bench.Configuration("OpenVINO direct, bf16 hint", "bf16", "peer", openvino_direct("bf16"), per_batch=True),
        ours, replica,  # next to each other in every round, so the overhead compares like with like
        bench.Configuration("neuronkit torch", "bf16", "neuronkit", neuronkit_torch("bf16"), per_batch=True)]

    title = (f"ResNet50 (torchvision, random weights), {threads} threads, torch {torch.__version__}, "
             f"onnxruntime {ort.__version__}, openvino {ov.get_version().split('-')[0]}")
    try:
        comparison = bench.run(configurations, inputs, args, title)
    finally:
        workdir.cleanup()

    wrapped, direct = ([row.rounds for row in comparison.rows if row.configuration is c and row.batch == 1]
                       for c in (ours, replica))
    if wrapped and direct:
        wrapped, direct = wrapped[0], direct[0]
        overhead = statistics.median(1 - w.items_per_s / d.items_per_s for w, d in zip(wrapped, direct))
        print(f"\nneuronkit Runtime overhead over calling its replica directly at batch 1: {overhead:+.2%} "
              f"(median over {len(wrapped)} rounds, the two measured back to back in each)")
    return 0 if comparison.ok else 1


if __name__ == "__main__":
    sys.exit(main())
