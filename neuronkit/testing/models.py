"""Small real models for tests of code that sits on :class:`neuronkit.Runtime` (servers, tools)."""

from __future__ import annotations

import numpy as np


def two_input_onnx(seed: int = 0):
    """An ONNX model with two inputs and two outputs of different dtypes and a free batch axis:
    ``y = relu(x @ W + b) * scale`` (x float32[N, 4], scale float32[N, 1] -> y float32[N, 3]) and
    ``label = argmax(y, 1)`` (int64[N]). Needs the ``onnx`` package."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["z"]),
         helper.make_node("Relu", ["z"], ["r"]), helper.make_node("Mul", ["r", "scale"], ["y"]),
         helper.make_node("ArgMax", ["y"], ["label"], axis=1, keepdims=0)],
        "two_input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
