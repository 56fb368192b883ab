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
    return net


def images(batch, seed=0):
    return (np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32),)


def imperative(model, inputs):
    return [model(*(mx.nd.array(x) for x in inputs)).asnumpy()]
