"""Gluon ResNet50 v1 on this CPU: neuronkit's mxnet engines next to the ways MXNet users run it.

    python benchmarks/mxnet_resnet50.py [--seconds 8] [--batches 1 8]

Peers, measured in the same run: the hybridized Gluon block (static_alloc, static_shape), the
Module API bound for the batch, and ONNX Runtime on the model exported by ``mx.onnx``. One caller,
one replica with every core; ratios are to the hybridized Gluon block. Random (seeded) weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args(argv)

    import mxnet as mx
    import onnxruntime as ort
    from zoo.mxnet import resnet50

    import neuronkit
    from neuronkit.bench import measure, table

    threads = len(os.sched_getaffinity(0))
    model, _ = resnet50()
    model.hybridize(static_alloc=True, static_shape=True)
    results = []

    def bench(name, fn, x):
        print(f"  measuring {name} at batch {len(x)} ...", file=sys.stderr, flush=True)
        results.append(measure(name, fn, x, len(x), args.seconds))

    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
            bench("Gluon hybridized", lambda a: model(mx.nd.array(a)).asnumpy(), x)
            model.export(f"{tmp}/r50", epoch=0)
            sym, params, aux = mx.model.load_checkpoint(f"{tmp}/r50", 0)
            module = mx.mod.Module(symbol=sym, data_names=["data"], label_names=None, context=mx.cpu())
            module.bind(data_shapes=[("data", x.shape)], for_training=False)
            module.set_params(params, aux)

            def run_module(a, m=module):
                m.forward(mx.io.DataBatch([mx.nd.array(a)]), is_train=False)
                return m.get_outputs()[0].asnumpy()

            bench("Module API", run_module, x)
            mx.onnx.export_model(sym, {**params, **aux}, in_shapes=[x.shape], in_types=[np.float32],
                                 onnx_file_path=f"{tmp}/r50.onnx")
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            session = ort.InferenceSession(f"{tmp}/r50.onnx", options, providers=["CPUExecutionProvider"])
            bench("ONNX Runtime (direct, mx.onnx export)", lambda a, s=session: s.run(None, {"data": a}), x)
            for engine in ("onnxruntime", "module"):
                art = neuronkit.compile(model, "mxnet", example_inputs=x, engine=engine)
                with neuronkit.load(art) as rt:
                    bench(f"neuronkit mxnet fp32 ({engine})", rt, x)

    print(f"\nGluon ResNet50 v1 (random weights), {threads} threads, mxnet {mx.__version__}, "
          f"onnxruntime {ort.__version__}; ratio to hybridized Gluon\n")
    print(table(results, baseline="Gluon hybridized"))


if __name__ == "__main__":
    main()
