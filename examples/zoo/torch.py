"""torchvision ResNet50 for the framework-agnostic examples (``examples/resnet50.py --framework torch``)."""

from __future__ import annotations

import neuronkit

#: torchvision's ImageNet preprocessing: RGB scaled to 0..1, ImageNet mean and std, NCHW.
PREPROCESS = neuronkit.Preprocess(labels="imagenet")


def resnet50(weights=None, seed=0):
    """``torchvision.models.resnet50`` and its preprocessing.

    :param weights: ``None`` for seeded random weights (no download is possible here), or the path
        of a local state dict (e.g. ``resnet50-0676ba61.pth``).
    :return: ``(model, preprocess)``; the model takes float32 ``[N, 3, 224, 224]``.
    """
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet50(weights=None)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model.eval(), PREPROCESS
