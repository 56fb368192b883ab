"""Keras ResNet50 for the framework-agnostic examples (``examples/resnet50.py --framework tf``)."""

from __future__ import annotations

import neuronkit

#: Keras ResNet50's preprocessing ("caffe" mode): BGR, 0..255, ImageNet means subtracted, no scaling.
PREPROCESS = neuronkit.Preprocess(layout="NHWC", channel_order="BGR", scale=1.0,
                                  mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0), labels="imagenet")


def resnet50(weights=None, seed=0):
    """``keras.applications.ResNet50`` and its preprocessing.

    :param weights: ``None`` for seeded random weights (no download is possible here), or the path
        of a local Keras weights file (e.g. ``resnet50_weights_tf_dim_ordering_tf_kernels.h5``).
    :param seed: seeds Keras' initialisers, so random weights are the same on every run.
    :return: ``(model, preprocess)``; the model takes float32 ``[N, 224, 224, 3]`` and returns logits
        (``classifier_activation=None``, like torchvision's; ``neuronkit.images.top_k`` applies softmax).
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None if weights is None else str(weights), classifier_activation=None)
    return model, PREPROCESS
