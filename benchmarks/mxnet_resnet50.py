"""Gluon ResNet50 v1 on this CPU: neuronkit's mxnet backend beside the ways MXNet users run it.

Configurations, all measured in this one process at batch 1 and 8, in rounds that interleave them:

- neuronkit mxnet, each cpu engine (onnxruntime = the fp32 default, openvino = the bf16 default,
  module), through ``neuronkit.load(...)`` with one replica using every core;
- peers: the hybridized Gluon block (``static_alloc``, ``static_shape``), the Module API bound for
  the batch, ONNX Runtime on the file ``mx.onnx.export_model`` writes (as a user would run it:
  the weights still listed as graph inputs), OpenVINO reading that file (f32 / bf16 hints; the row
  says what it ran), and MXNet's own bf16 (``mx.contrib.amp.convert_hybrid_block``), reported as
  failed where it cannot run.

Prints the peer-ratio table of ``neuronkit.bench``: each row's images/s and its ratio to the best
peer at the same precision and batch. Weights are random (seeded) unless ``--weights FILE`` is
given: speed does not depend on them.

    python benchmarks/mxnet_resnet50.py                                  # 3 rounds of 3 s per row and batch
    python benchmarks/mxnet_resnet50.py --seconds 0.2 --rounds 1 --batches 1     # smoke run
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit import bench  # noqa: E402


def main(argv=None) -> int:
    parser = bench.argument_parser(__doc__, seconds=3.0)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--engines", nargs="+", default=["onnxruntime", "openvino", "module"])
    parser.add_argument("--weights", help="a local resnet50_v1 .params file (default: seeded random weights)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # mx.onnx uses onnx.mapping

    import mxnet as mx
    import onnxruntime as ort
    import openvino as ov
    from neuronkit_mxnet.cpu import exporter_compat
    from zoo import mxnet as zoo_mxnet

    import neuronkit

    threads = len(os.sched_getaffinity(0))
    model, _ = zoo_mxnet.resnet50(args.weights)
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, 224, 224)).astype(np.float32) for b in args.batches}
    tmp = tempfile.TemporaryDirectory(prefix="neuronkit-bench-mxnet-")  # removed at exit if not before

    # the deployable form MXNet users start from: symbol + params, and its ONNX export
    model.hybridize(static_alloc=True, static_shape=True)
    model(mx.nd.array(inputs[args.batches[0]]))
    model.export(f"{tmp.name}/r50", epoch=0)
    sym, params, aux = mx.model.load_checkpoint(f"{tmp.name}/r50", 0)
    onnx_path = f"{tmp.name}/r50.onnx"
    with exporter_compat():  # the exporter predates onnx 1.16 (see neuronkit_mxnet.cpu)
        mx.onnx.export_model(sym, {**params, **aux}, in_shapes=[(1, 3, 224, 224)], in_types=[np.float32],
                             onnx_file_path=onnx_path, dynamic=True, dynamic_input_shapes=[(None, 3, 224, 224)])

    def gluon():
        return lambda x: model(mx.nd.array(x)).asnumpy()

    def module_api(batch):
        module = mx.mod.Module(symbol=sym, data_names=["data"], label_names=None, context=mx.cpu())
        module.bind(data_shapes=[("data", (batch, 3, 224, 224))], for_training=False)
        module.set_params(params, aux)

        def fn(x):
            module.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
            return module.get_outputs()[0].asnumpy()
        return fn

    def onnxruntime_direct():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # not one warning per weight the exporter lists as an input
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"data": x})

    def openvino_direct(hint):
        def make():
            compiled = ov.Core().compile_model(onnx_path, "CPU", {
                "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY"})
            got = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            request = compiled.create_infer_request()
            return bench.Prepared(lambda x: request.infer([x])[0], note=f"runs {got}")
        return make

    def mxnet_amp_bf16():
        from mxnet.contrib import amp

        net = amp.convert_hybrid_block(model, target_dtype="bfloat16", ctx=mx.cpu())
        net.hybridize(static_alloc=True, static_shape=True)
        return lambda x: net(mx.nd.array(x)).asnumpy()

    def neuronkit_engine(engine, precision):
        def make():
            art = neuronkit.compile(model, "mxnet", example_inputs=inputs[args.batches[0]], engine=engine,
                                    precision=precision)
            return neuronkit.load(art)  # one replica with every core
        return make

    configurations = []
    for precision in args.precisions:
        for engine in args.engines:
            if precision == "bf16" and engine != "openvino":
                continue  # the other engines run fp32 only
            configurations.append(bench.Configuration(f"neuronkit mxnet engine={engine}", precision, "neuronkit",
                                                      neuronkit_engine(engine, precision)))
        if precision == "fp32":
            configurations += [
                bench.Configuration("Gluon hybridized (static_alloc, static_shape)", precision, "peer", gluon),
                bench.Configuration("Module API", precision, "peer", module_api, per_batch=True),
                bench.Configuration("ONNX Runtime direct (mx.onnx export)", precision, "peer", onnxruntime_direct),
                bench.Configuration("OpenVINO direct, f32 hint", precision, "peer", openvino_direct("f32"))]
        else:
            configurations += [
                bench.Configuration("MXNet AMP bf16 (convert_hybrid_block)", precision, "peer", mxnet_amp_bf16),
                bench.Configuration("OpenVINO direct, bf16 hint", precision, "peer", openvino_direct("bf16"))]

    title = (f"Gluon ResNet50 v1 ({'weights ' + args.weights if args.weights else 'random weights'}), {threads} "
             f"threads, mxnet {mx.__version__}, onnxruntime {ort.__version__}, OpenVINO {ov.__version__.split('-')[0]}")
    try:
        return 0 if bench.run(configurations, inputs, args, title).ok else 1
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
