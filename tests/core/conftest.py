import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def mlp(batch="N", seed=0, in_dim=4, out_dim=3):
    """A small ONNX model: y = relu(x @ W + b), optionally with a free batch axis."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((in_dim, out_dim)).astype(np.float32)
    b = rng.standard_normal(out_dim).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["z"]),
         helper.make_node("Relu", ["z"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, in_dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, out_dim])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def mlp_reference(model, inputs):
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [np.maximum(inputs[0] @ weights["W"] + weights["b"], 0)]


@pytest.fixture
def onnx_model():
    return mlp()


@pytest.fixture
def artifact(onnx_model):
    import neuronkit

    return neuronkit.compile(onnx_model)
