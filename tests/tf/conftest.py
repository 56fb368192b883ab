"""Fixtures for the TensorFlow backend's tests: small Keras models and the simulated Neuron SDKs."""

import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from tf_helpers import conv_model  # noqa: E402


@pytest.fixture
def model():
    return conv_model()


@pytest.fixture
def tfn_sim(clean_neuron_env):
    """The SIMULATED tensorflow-neuron installed as tensorflow_neuron / tensorflow.neuron."""
    from neuronkit.testing.sim import tensorflow_neuron as sim

    sim.install()
    yield sim
    sim.uninstall()


@pytest.fixture
def tfnx_sim(clean_neuron_env):
    """The SIMULATED tensorflow-neuronx installed as tensorflow_neuronx."""
    from neuronkit.testing.sim import tensorflow_neuronx as sim

    sim.install()
    yield sim
    sim.uninstall()
