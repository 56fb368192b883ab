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
    """The SIMULATED tensorflow-neuron 2.x installed as tensorflow_neuron / tensorflow.neuron."""
    from neuronkit.testing.sim import tensorflow_neuron as sim

    sim.install("2.x")
    yield sim
    sim.uninstall()


@pytest.fixture
def tfn1_sim(clean_neuron_env):
    """The SIMULATED tensorflow-neuron 1.x (the TF1 ``saved_model.compile``, no ``trace``)."""
    from neuronkit.testing.sim import tensorflow_neuron as sim

    sim.install("1.x")
    yield sim
    sim.uninstall()


@pytest.fixture
def tfnx_sim(clean_neuron_env):
    """The SIMULATED tensorflow-neuronx installed as tensorflow_neuronx."""
    from neuronkit.testing.sim import tensorflow_neuronx as sim

    sim.install()
    yield sim
    sim.uninstall()


@pytest.fixture(scope="session")
def resnet50(tmp_path_factory):
    """Keras ResNet50 (seeded random weights) compiled for cpu and saved: ``(model, preprocess, path)``."""
    import sys
    from pathlib import Path

    import numpy as np

    import neuronkit

    examples = str(Path(__file__).resolve().parents[2] / "examples")
    sys.path.insert(0, examples)
    try:
        from zoo import tf as zoo_tf
    finally:
        sys.path.remove(examples)
    model, preprocess = zoo_tf.resnet50(seed=0)
    art = neuronkit.compile(model, "tf", example_inputs=np.zeros((1, 224, 224, 3), np.float32), preprocess=preprocess)
    return model, preprocess, art.save(tmp_path_factory.mktemp("resnet50") / "resnet50.nk")
