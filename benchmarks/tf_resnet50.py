"""Keras ResNet50 on this CPU: neuronkit's tf backend beside the ways TensorFlow users run it.

Configurations, all measured in this one process at batch 1 and 8, in rounds that interleave them:

- neuronkit tf, each cpu engine (openvino = the default, savedmodel, xla), through
  ``neuronkit.load(...)`` with one replica using every core;
- peers: Keras ``model.predict``, ``tf.function``, ``tf.function(jit_compile=True)`` (XLA),
  ``tf.function`` with TensorFlow's oneDNN bf16 auto-mixed-precision rewrite, and OpenVINO
  converting the ``keras.Model`` directly (``INFERENCE_PRECISION_HINT`` f32 / bf16; the row says
  what it ran).

Prints the peer-ratio table of ``neuronkit.bench``: each row's images/s and its ratio to the best
peer at the same precision and batch. Weights are random (seeded) unless ``--weights FILE`` is
given: speed does not depend on them.

    python benchmarks/tf_resnet50.py                                  # 3 rounds of 3 s per row and batch
    python benchmarks/tf_resnet50.py --seconds 0.2 --rounds 1 --batches 1     # smoke run
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit import bench  # noqa: E402


def main(argv=None) -> int:
    parser = bench.argument_parser(__doc__, seconds=3.0)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--engines", nargs="+", default=["openvino", "savedmodel", "xla"])
    parser.add_argument("--weights", help="a local Keras ResNet50 weights file (default: seeded random weights)")
    args = parser.parse_args(argv)

    import openvino as ov
    import tensorflow as tf
    from zoo import tf as zoo_tf

    import neuronkit

    threads = len(os.sched_getaffinity(0))
    model, preprocess = zoo_tf.resnet50(args.weights)
    rng = np.random.default_rng(0)
    inputs = {b: rng.uniform(-120, 150, (b, 224, 224, 3)).astype(np.float32) for b in args.batches}

    def openvino_direct(hint):
        def make():
            converted = ov.convert_model(model, example_input=inputs[args.batches[0]])
            compiled = ov.Core().compile_model(converted, "CPU", {
                "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY"})
            request = compiled.create_infer_request()
            got = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            return bench.Prepared(lambda x: request.infer([x])[0], note=f"runs {got}")
        return make

    def tf_function(jit=False, bf16=False):
        def make():
            # The bf16 rewrite applies when a function is instantiated: call it at every batch now,
            # with the option on, then restore it, as neuronkit's savedmodel engine does.
            tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": bf16})
            try:
                fn = tf.function(lambda x: model(x, training=False), jit_compile=jit or None)
                for b in args.batches:
                    fn(tf.constant(inputs[b]))
            finally:
                tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": False})
            return lambda x: fn(tf.constant(x)).numpy()
        return make

    def neuronkit_engine(engine, precision):
        def make():
            art = neuronkit.compile(model, "tf", example_inputs=inputs[args.batches[0]], engine=engine,
                                    precision=precision)
            return neuronkit.load(art)  # one replica with every core
        return make

    configurations = []
    for precision in args.precisions:
        for engine in args.engines:
            if engine == "xla" and precision == "bf16":
                continue  # TensorFlow's bf16 rewrite does not reach XLA-compiled functions
            configurations.append(bench.Configuration(f"neuronkit tf engine={engine}", precision, "neuronkit",
                                                      neuronkit_engine(engine, precision)))
        if precision == "fp32":
            configurations += [
                bench.Configuration("keras model.predict", precision, "peer",
                                    lambda: (lambda x: model.predict(x, verbose=0))),
                bench.Configuration("tf.function", precision, "peer", tf_function()),
                bench.Configuration("tf.function(jit_compile=True) (XLA)", precision, "peer", tf_function(jit=True)),
                bench.Configuration("OpenVINO direct, f32 hint", precision, "peer", openvino_direct("f32"))]
        else:
            configurations += [
                bench.Configuration("tf.function + oneDNN bf16 auto-mixed-precision", precision, "peer",
                                    tf_function(bf16=True)),
                bench.Configuration("OpenVINO direct, bf16 hint", precision, "peer", openvino_direct("bf16"))]

    title = (f"Keras ResNet50 ({'weights ' + args.weights if args.weights else 'random weights'}), {threads} "
             f"threads, TensorFlow {tf.__version__}, OpenVINO {ov.__version__.split('-')[0]}")
    return 0 if bench.run(configurations, inputs, args, title).ok else 1


if __name__ == "__main__":
    sys.exit(main())
