"""ResNet50 on this CPU: neuronkit's torch configurations next to the peers, measured in one run.

    python benchmarks/torch_resnet50.py [--seconds 8] [--batches 1 8] [--inductor]

Prints images/s at each batch size as a table with ratios to torch eager, then the overhead of
neuronkit's Runtime over calling the same compiled session directly. Each configuration runs one
caller on one replica with every core, so the figures compare engines, not parallelism.
The weights are random (seeded): speed does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--inductor", action="store_true", help="also torch.compile (slow to compile)")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import openvino as ov
    import torch
    from zoo.torch import resnet50

    import neuronkit
    from neuronkit.bench import measure, table

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model, _ = resnet50()
    results, overhead = [], []

    def bench(name, fn, inputs):
        batch = len(inputs)
        print(f"  measuring {name} at batch {batch} ...", file=sys.stderr, flush=True)
        results.append(measure(name, fn, inputs, batch, args.seconds))

    for batch in args.batches:
        x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        xt = torch.from_numpy(x)

        # no_grad wraps the callables: grad mode is per thread, and measure() calls from its own threads.
        bench("torch eager fp32", torch.no_grad()(model), xt)
        if args.inductor:
            compiled = torch.compile(model, options={"freezing": True})
            bench("torch.compile freezing fp32", torch.no_grad()(compiled), xt)

        onnx_path = Path(f"/tmp/neuronkit-bench-resnet50-b{batch}.onnx")
        torch.onnx.export(model, (xt,), str(onnx_path), input_names=["x"], dynamo=False, opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        bench("ONNX Runtime fp32 (direct)", lambda a, s=session: s.run(None, {"x": a}), x)
        ov_model = ov.convert_model(model, example_input=xt)
        for hint in ("f32", "bf16"):
            ov_compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                                     "PERFORMANCE_HINT": "LATENCY"})
            runs = ov_compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            request = ov_compiled.create_infer_request()
            bench(f"OpenVINO {hint} (direct, runs {runs})", lambda a, r=request: r.infer([a]), x)

        for precision in ("fp32", "bf16"):
            art = neuronkit.compile(model, "torch", example_inputs=x, precision=precision)
            with neuronkit.load(art) as rt:
                name = f"neuronkit torch {precision} ({art.manifest.engine})"
                bench(name, rt, x)
                if batch == 1 and precision == "fp32":  # Runtime overhead over its own replica, same session
                    replica = rt.replicas[0]
                    rounds = []  # alternating short rounds, so drifts in machine load cancel out
                    for _ in range(7):
                        direct = measure("replica", lambda a, r=replica: r.run([a]), x, 1, args.seconds / 4)
                        wrapped = measure("runtime", rt, x, 1, args.seconds / 4)
                        rounds.append(1 - wrapped.items_per_s / direct.items_per_s)
                    overhead.append(float(np.median(rounds)))
        onnx_path.unlink()

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else ""
    print(f"\nResNet50 (torchvision, random weights), {threads} threads, {cpu}, torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}, openvino {ov.get_version().split('-')[0]}; ratio to torch eager\n")
    print(table(results, baseline="torch eager fp32"))
    if overhead:
        print(f"\nneuronkit Runtime overhead over calling its replica directly at batch 1: {overhead[0]:+.2%} "
              f"(median of 7 alternating rounds)")


if __name__ == "__main__":
    main()
