"""Keras ResNet50 on this CPU: neuronkit's tf backend beside the ways TensorFlow users run it.

Rows, all measured in this one process, one after another, at batch 1 and 8, images/s:

- neuronkit tf, each cpu engine (openvino = the default, savedmodel, xla), through
  ``neuronkit.load(...)`` with one replica using every core;
- peers: Keras ``model.predict``, ``tf.function``, ``tf.function(jit_compile=True)`` (XLA),
  ``tf.function`` with TensorFlow's oneDNN bf16 auto-mixed-precision rewrite, and OpenVINO
  converting the ``keras.Model`` directly (``INFERENCE_PRECISION_HINT`` f32 / bf16).

The ratio column compares neuronkit's best row with the best peer at the same precision and batch.
Weights are random (seeded) unless ``--weights FILE`` is given: speed does not depend on them.

    python benchmarks/tf_resnet50.py                 # 10 s per measurement
    python benchmarks/tf_resnet50.py --seconds 2     # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit.bench import measure, peer_report  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per row and batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--engines", nargs="+", default=["openvino", "savedmodel", "xla"])
    parser.add_argument("--weights", help="a local Keras ResNet50 weights file (default: seeded random weights)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import openvino as ov
    import tensorflow as tf
    from zoo import tf as zoo_tf

    import neuronkit

    threads = len(os.sched_getaffinity(0))
    model, preprocess = zoo_tf.resnet50(args.weights)
    rng = np.random.default_rng(0)
    inputs = {b: rng.uniform(-120, 150, (b, 224, 224, 3)).astype(np.float32) for b in args.batches}
    rows: list = []  # (precision, kind, name, {batch: img/s})

    def run(precision, kind, name, make):
        start = time.perf_counter()
        try:
            fn = make()
            speeds = {b: measure(name, fn, inputs[b], b, args.seconds).items_per_s for b in args.batches}
        except Exception as exc:  # a peer that cannot run here is reported, not fatal
            print(f"  {name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return
        rows.append((precision, kind, name, speeds))
        shown = "  ".join(f"b{b} {s:7.1f}" for b, s in speeds.items())
        print(f"  {precision} {name:<44} {shown}   ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    def openvino_direct(hint):
        def make():
            converted = ov.convert_model(model, example_input=inputs[args.batches[0]])
            compiled = ov.Core().compile_model(converted, "CPU", {
                "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY"})
            request = compiled.create_infer_request()
            got = compiled.get_property("INFERENCE_PRECISION_HINT")
            print(f"  (OpenVINO runs the {hint} hint as {got})", file=sys.stderr)
            return lambda x: request.infer([x])[0]
        return make

    def tf_function(jit=False, bf16=False):
        def make():
            tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": bf16})
            fn = tf.function(lambda x: model(x, training=False), jit_compile=jit or None)
            return lambda x: fn(tf.constant(x)).numpy()
        return make

    def neuronkit_engine(engine, precision):
        def make():
            art = neuronkit.compile(model, "tf", example_inputs=inputs[args.batches[0]], engine=engine,
                                    precision=precision)
            rt = neuronkit.load(art)  # one replica with every core
            return rt
        return make

    print(f"Keras ResNet50, {threads} threads, {args.seconds:g} s per measurement, TensorFlow {tf.__version__}, "
          f"OpenVINO {ov.__version__}", file=sys.stderr)
    for precision in args.precisions:
        for engine in args.engines:
            if engine == "xla" and precision == "bf16":
                continue  # TensorFlow's bf16 rewrite does not reach XLA-compiled functions
            run(precision, "neuronkit", f"neuronkit tf engine={engine}", neuronkit_engine(engine, precision))
        if precision == "fp32":
            run(precision, "peer", "keras model.predict", lambda: (lambda x: model.predict(x, verbose=0)))
            run(precision, "peer", "tf.function", tf_function())
            run(precision, "peer", "tf.function(jit_compile=True) (XLA)", tf_function(jit=True))
            run(precision, "peer", "OpenVINO direct, f32 hint", openvino_direct("f32"))
        else:
            run(precision, "peer", "tf.function + oneDNN bf16 auto-mixed-precision", tf_function(bf16=True))
            run(precision, "peer", "OpenVINO direct, bf16 hint", openvino_direct("bf16"))
        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": False})

    report, summary = peer_report(rows, args.batches)
    print()
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": threads, "seconds": args.seconds, "rows": [
            {"precision": p, "kind": k, "name": n, "images_per_second": {str(b): v for b, v in s.items()}}
            for p, k, n, s in rows], "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
