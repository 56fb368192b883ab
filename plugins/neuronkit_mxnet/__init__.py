"""The MXNet backend: Gluon HybridBlocks, (symbol, args, aux) tuples and checkpoint prefixes.

cpu engines, in order of preference: the core's ``onnxruntime`` (fp32; the fastest measured) and
``openvino`` (fp32, bf16), both from the model exported with ``mx.onnx``, and the backend's own
``module`` (MXNet's Module API, needing nothing beyond mxnet). inf1 calls ``mx_neuron.compile``
(MXNet 1.8) or ``mx.contrib.neuron.compile`` (MXNet 1.5). See docs/backends/mxnet.md.
Nothing here imports mxnet: backend.py and the modules it dispatches to do, when they compile or load.
"""

import os
import sys

import numpy as np

from neuronkit import BackendSpec, EngineSpec, Option, hookimpl
from neuronkit.engines import ONNXRUNTIME, OPENVINO

#: mxnet 1.9.1 needs numpy<1.24 (np.bool): pin it in the same command, or pip upgrades it with onnx
PINS = '"numpy<1.24" (mxnet 1.9 needs numpy<1.24)'
ENGINES = (ONNXRUNTIME.needing("onnx", install_hint=f"pip install onnxruntime {PINS}"),
           OPENVINO.needing("onnx", install_hint=f"pip install openvino {PINS}"),
           EngineSpec("module", ("fp32",)))  # MXNet's Module API: needs nothing beyond mxnet

COMPILE_OPTIONS = (
    Option("sdk", str, None, "the MXNet Neuron SDK to compile with: mx_neuron (MXNet 1.8) or mxnet.contrib.neuron "
           "(MXNet 1.5); default: the first installed", ("inf1",)),
    Option("epoch", int, None, "the epoch of a checkpoint prefix to read; default: the newest PREFIX-NNNN.params"),
    Option("excl_node_names", (list, tuple), (), "graph nodes neuron-cc must leave on the CPU", ("inf1",)),
    Option("force_incl_node_names", (list, tuple), (), "graph nodes neuron-cc must place on Neuron (mx_neuron only)",
           ("inf1",)),
)


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
            engines=ENGINES,
            precisions=("fp32", "bf16", "fp16"),  # inf1's (neuron-cc casting); on cpu the engines' decide
            capabilities={"dynamic_batch", "pipeline"},
            requires=("mxnet",),
            install_hint='pip install "neuronkit[mxnet]"',
            selftest="neuronkit_mxnet:tiny_model",
            model_files="MXNet checkpoints (PREFIX, where PREFIX-symbol.json exists)",
            compile_options=COMPILE_OPTIONS,
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


def tiny_model():
    """A small Gluon network and an example input, for ``neuronkit selftest``."""
    import mxnet as mx
    from mxnet.gluon import nn

    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(4))
    net.initialize(mx.init.Xavier())
    return net, (np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32),)
