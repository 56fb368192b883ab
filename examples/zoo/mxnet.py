"""Gluon ResNet50 v1 for the framework-agnostic examples (``examples/resnet50.py --framework mxnet``)."""

from __future__ import annotations

import neuronkit

#: The Gluon model zoo's ImageNet preprocessing: RGB scaled to 0..1, ImageNet mean and std, NCHW.
PREPROCESS = neuronkit.Preprocess(labels="imagenet")


def resnet50(weights=None, seed=0):
    """``mxnet.gluon.model_zoo.vision.resnet50_v1`` and its preprocessing.

    :param weights: ``None`` for seeded random weights (no download is possible here), or the path
        of a local ``.params`` file for this network.
    :return: ``(model, preprocess)``; the model takes float32 ``[N, 3, 224, 224]``.
    """
    import mxnet as mx

    mx.random.seed(seed)
    model = mx.gluon.model_zoo.vision.resnet50_v1(pretrained=False)
    if weights is None:
        model.initialize(mx.init.Xavier())
    else:
        model.load_parameters(str(weights))
    return model, PREPROCESS
