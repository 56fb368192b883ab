"""The MXNet backend: Gluon HybridBlocks, (symbol, args, aux) tuples and checkpoint prefixes.

Targets: ``cpu`` (engines ``onnxruntime``: the model exported with ``mx.onnx``, the fastest fp32
engine measured; ``openvino``: the same export through OpenVINO, the bf16 engine; ``module``: the
symbol and params through MXNet's Module API) and ``inf1`` (``mx_neuron.compile`` on MXNet 1.8,
``mx.contrib.neuron.compile`` on MXNet 1.5).
Nothing here imports mxnet: backend.py does, when it compiles or loads.
"""

import os
import sys

from neuronkit import BackendSpec, hookimpl


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="mxnet",
            framework="MXNet",
            aliases=("mx", "gluon"),
            compiler="neuronkit_mxnet.backend:MxnetCompiler",
            replica="neuronkit_mxnet.backend:MxnetReplica",
            targets=("cpu", "inf1"),
            engines=("onnxruntime", "openvino", "module"),
            precisions=("fp32", "bf16", "fp16"),  # cpu: bf16 through OpenVINO; fp16: neuron-cc casting on inf1
            capabilities={"dynamic_batch", "pipeline"},
            requires=("mxnet",),
            install_hint='pip install "neuronkit[mxnet]"',
            selftest="neuronkit_mxnet.backend:tiny_model",
            model_files="MXNet checkpoints (PREFIX, where PREFIX-symbol.json exists)",
        )
    ]


@hookimpl
def neuronkit_claim_model(model):
    if isinstance(model, (str, os.PathLike)):
        return "mxnet" if os.path.isfile(f"{os.fspath(model)}-symbol.json") else None
    mx = sys.modules.get("mxnet")
    if mx is None:
        return None
    if isinstance(model, mx.gluon.HybridBlock):
        return "mxnet"
    if isinstance(model, tuple) and len(model) == 3 and isinstance(model[0], mx.sym.Symbol):
        return "mxnet"
    return None
