"""The ONNX backend: ONNX models on the cpu target, through the core's ONNX Runtime engine.

Registered through the ``neuronkit`` entry point exactly as a third-party backend would be.
Nothing here imports onnx or onnxruntime; backend.py does, when it compiles.
"""

import os
import sys

import numpy as np

from neuronkit import BackendSpec, hookimpl


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="onnx",
            framework="ONNX",
            compiler="neuronkit_onnx.backend:OnnxCompiler",
            targets=("cpu",),
            engines=("onnxruntime",),
            capabilities={"dynamic_batch"},
            requires=("onnx", "onnxruntime"),
            install_hint='pip install "neuronkit[onnx]"',
            selftest="neuronkit_onnx:tiny_model",
            model_files="ONNX files (.onnx)",
        )
    ]


@hookimpl
def neuronkit_claim_model(model):
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        return "onnx"
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".onnx"):
        return "onnx"
    return None


def tiny_model():
    """A two-layer ONNX model and an example input, for ``neuronkit selftest``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
               for n, s in (("w1", (8, 16)), ("w2", (16, 4)))]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    return model, (rng.standard_normal((2, 8)).astype(np.float32),)
