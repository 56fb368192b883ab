"""Fixtures for the server tests: small real models, and a server running in this process."""

import numpy as np
import pytest

import neuronkit
from neuronkit.serve import ServeOptions, ServerConfig, background


def two_input_model():
    """An ONNX model with two inputs and two outputs of different dtypes:
    ``y = relu(x @ W + b) * scale`` (float32[N, 3]) and ``label = argmax(y, 1)`` (int64[N])."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
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


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """The two-input model compiled with the onnx backend and saved as one file."""
    path = tmp_path_factory.mktemp("models") / "two.nk"
    neuronkit.compile(two_input_model(), "onnx").save(path)
    return path


@pytest.fixture(scope="session")
def reference(model_path):
    """In-process prediction, to compare served answers with."""
    rt = neuronkit.load(model_path)
    yield rt
    rt.close()


def rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((n, 4)).astype(np.float32),
            "scale": rng.uniform(0.5, 2, (n, 1)).astype(np.float32)}


def config(artifacts=None, **options):
    """A server on free loopback ports."""
    server_keys = {"repository", "versions", "poll_seconds", "max_body_mb", "grace_seconds"}
    server = {k: options.pop(k) for k in list(options) if k in server_keys}
    return ServerConfig(artifacts=artifacts, rest_port=0, grpc_port=0, options=ServeOptions(**options), **server)


@pytest.fixture(scope="module")
def served(model_path):
    """The two-input model served as ``two``, for the module."""
    with background(config({"two": model_path})) as server:
        yield server


@pytest.fixture(scope="session")
def slow_path(tmp_path_factory):
    """An echo-backend artifact whose every run takes 50 ms (x: float32[N, 2] -> y = 2x)."""
    path = tmp_path_factory.mktemp("models") / "slow.nk"
    neuronkit.compile(2 * np.eye(2, dtype=np.float32), "echo", delay=0.05).save(path)
    return path
