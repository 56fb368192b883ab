"""Fixtures for the server tests: small real models, and a server running in this process."""

import numpy as np
import pytest

import neuronkit
from neuronkit.serve import ServeOptions, ServerConfig, background
from neuronkit.testing.models import two_input_onnx


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """The two-input model compiled with the onnx backend and saved as one file."""
    path = tmp_path_factory.mktemp("models") / "two.nk"
    neuronkit.compile(two_input_onnx(), "onnx").save(path)
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
