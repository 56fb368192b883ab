"""Artifacts the mxnet backend wrote before it used the core's engines (neuronkit 0.1.0 at commit
2f66875: tiny_model() compiled for each cpu engine and, against the simulated mx_neuron, for inf1)
still load and give the outputs they gave then. tiny-expected.npz holds the input and MXNet's output."""

from pathlib import Path

import numpy as np
import pytest
from conftest import calls

import neuronkit
from neuronkit.testing import relative_error

pytest.importorskip("mxnet")
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "tiny-expected.npz") as saved:
        return saved["x"], saved["y"]


@pytest.mark.parametrize("engine, replica", [("onnxruntime", "neuronkit.engines.onnxruntime"),
                                             ("openvino", "neuronkit.engines.openvino"),
                                             ("module", "neuronkit_mxnet.backend")])
def test_cpu_artifacts_load_with_the_engine_that_now_owns_them(expected, engine, replica):
    x, y = expected
    art = neuronkit.open_artifact(DATA / f"tiny-{engine}.nk")
    assert art.manifest.engine == engine and art.manifest.neuronkit_version == "0.1.0"
    with neuronkit.load(art) as rt:
        assert type(rt.replicas[0]).__module__ == replica
        assert relative_error(rt(x), y) < 1e-5


def test_inf1_artifacts_load_on_their_core_groups(expected, mxn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    x, y = expected
    art = neuronkit.open_artifact(DATA / "tiny-inf1.nk")
    assert art.manifest.load == {"prefix": "model", "inputs": ["data"], "sdk": "mx_neuron", "runtime": "2.x"}
    with neuronkit.load(art, cores=2, group_size=1) as rt:
        assert [c["device_id"] for c in calls(mxn, "neuron")] == [0, 1]
        assert relative_error(rt(x), y) < 1e-5
