"""Fixtures for the MXNet backend's tests: a small Gluon network and the SIMULATED MXNet Neuron SDKs."""

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")


def small_net():
    from mxnet.gluon import nn

    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"), nn.Conv2D(8, 3, strides=2),
            nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 32, 32)))  # materialise the parameters
    # non-zero BatchNorm statistics, so that a graph that dropped them would show
    bn = net[1]
    bn.running_mean.set_data(mx.nd.array(np.linspace(-0.5, 0.5, 16)))
    bn.running_var.set_data(mx.nd.array(np.linspace(0.5, 2.0, 16)))
    return net


def images(batch, seed=0):
    return (np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32),)


def imperative(model, inputs):
    return [model(*(mx.nd.array(x) for x in inputs)).asnumpy()]


def checkpoint(model, prefix, epoch=0):
    """Export a Gluon model as MXNet's symbol + params files; returns (sym, args, aux)."""
    model.hybridize()
    model(mx.nd.array(images(1)[0]))
    model.export(str(prefix), epoch=epoch)
    return mx.model.load_checkpoint(str(prefix), epoch)


@pytest.fixture
def mxn(clean_neuron_env):
    """The SIMULATED mx_neuron (MXNet 1.8), importable as ``mx_neuron``, with ``mx.neuron()``."""
    from neuronkit.testing.sim import installed

    with installed("mx_neuron") as sim:
        yield sim


@pytest.fixture
def contrib(clean_neuron_env):
    """The SIMULATED mxnet.contrib.neuron (MXNet 1.5)."""
    from neuronkit.testing.sim import installed

    with installed("mxnet_contrib_neuron") as sim:
        yield sim


def calls(sim, function):
    return [c for c in sim.calls if c["function"] == function]
