"""Images in, class labels out: what ``neuronkit predict ART cat.png`` and the examples need.

The manifest's :class:`~neuronkit.Preprocess` says how the model wants its pixels (layout,
channel order, scaling, mean and standard deviation); the input's shape gives the size.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InputError
from .types import Preprocess, TensorSpec


def image_size(spec: TensorSpec, layout: str) -> tuple[int, int]:
    """(height, width) an image input expects, from its shape and layout."""
    if len(spec.shape) != 4 or layout not in ("NCHW", "NHWC"):
        raise InputError(f"input {spec.describe()} is not an image batch (want rank 4, NCHW or NHWC); "
                         f"feed a .npy file instead")
    h, w = spec.shape[2:4] if layout == "NCHW" else spec.shape[1:3]
    if h is None or w is None:
        raise InputError(f"input {spec.describe()} leaves the image size free; feed a .npy file instead")
    return h, w


def load_image(path: str | Path, spec: TensorSpec, preprocess: Preprocess | None = None) -> np.ndarray:
    """Read an image file as a batch of one, resized (shorter side, then centre crop) and normalised."""
    from PIL import Image

    pre = preprocess or Preprocess()
    h, w = image_size(spec, pre.layout)
    try:
        image = Image.open(path).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # bomb: a tiny file claiming gigapixels
        raise InputError(f"cannot read {path} as an image ({exc}); give a PNG/JPEG file or a .npy array") from None
    # Resize the shorter side to 256/224 of the crop (the ImageNet evaluation recipe), then centre-crop.
    scale = max(h, w) * 256 / 224 / min(image.size)
    image = image.resize((max(w, round(image.width * scale)), max(h, round(image.height * scale))),
                         Image.BILINEAR)
    left, top = (image.width - w) // 2, (image.height - h) // 2
    pixels = np.asarray(image.crop((left, top, left + w, top + h)), dtype=np.float32)
    if pre.channel_order == "BGR":
        pixels = pixels[..., ::-1]
    pixels = (pixels * pre.scale - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    if pre.layout == "NCHW":
        pixels = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels[None], dtype=spec.dtype)


def imagenet_labels() -> list:
    """The 1000 ImageNet-1k class names, in the usual index order."""
    text = resources.files("neuronkit").joinpath("data/imagenet_classes.txt").read_text()
    return text.splitlines()


def top_k(logits: np.ndarray, k: int = 5, labels: list | None = None) -> list:
    """The ``k`` best classes of one row of logits as ``(index, label, probability)``."""
    row = np.asarray(logits, np.float64).reshape(-1)
    probs = np.exp(row - row.max())
    probs /= probs.sum()
    best = np.argsort(-probs)[:k]
    return [(int(i), labels[i] if labels and i < len(labels) else str(i), float(probs[i])) for i in best]
