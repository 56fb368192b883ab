"""Calibration data for ``precision="int8"``: what the user gave, read once the model's inputs are known.

``neuronkit.compile(..., precision="int8", calibration=DATA, calibration_size=300)`` takes ``DATA``
as an iterable of inputs shaped like ``example_inputs`` (one array or tensor, a tuple in the model's
input order, or a dict by input name), or as a folder of images, preprocessed as ``preprocess=``
says. The engines read it with :meth:`Calibration.samples`, which checks every sample against the
signature, and keep a held-out part to measure the quantized model against the fp32 one.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CompileError
from .types import Preprocess, TensorSpec

#: NNCF's documentation suggests about 300 samples for post-training quantization.
DEFAULT_SIZE = 300
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class Calibration:
    source: Any
    size: int = DEFAULT_SIZE
    preprocess: Preprocess | None = None
    _read: dict = field(default_factory=dict, compare=False, repr=False)  # checked samples, read once

    def samples(self, inputs: Sequence[TensorSpec]) -> list:
        """Up to :attr:`size` samples as ``{input name: array}``, each checked against ``inputs``."""
        if "samples" not in self._read:
            self._read["samples"] = self._samples(inputs)
        return self._read["samples"]

    def held_out(self, inputs: Sequence[TensorSpec]) -> tuple | None:
        """The held-out samples joined into one batch per input, or None when none are held out."""
        held = split(self.samples(inputs))[1]
        return tuple(np.concatenate([s[i.name] for s in held]) for i in inputs) if held else None

    def _samples(self, inputs: Sequence[TensorSpec]) -> list:
        if isinstance(self.source, (str, os.PathLike)):
            samples = self._images(Path(self.source), inputs)
        else:
            try:
                given = list(itertools.islice(iter(self.source), self.size))
            except TypeError:
                raise CompileError(f"calibration= takes an iterable of inputs shaped like example_inputs, or a "
                                   f"folder of images; got a {type(self.source).__name__}") from None
            samples = [_as_sample(item, inputs, i) for i, item in enumerate(given)]
        if not samples:
            raise CompileError("calibration= holds no samples; give inputs shaped like example_inputs (about "
                               f"{DEFAULT_SIZE} of them, real data the model will see), or a folder of images")
        if len(samples) < self.size:
            warnings.warn(f"calibration has {len(samples)} samples, fewer than calibration_size={self.size}: using "
                          f"what there is (post-training quantization is steadier with a few hundred)",
                          RuntimeWarning, stacklevel=4)
        return samples

    def _images(self, folder: Path, inputs) -> list:
        from .images import load_image

        if not folder.is_dir():
            raise CompileError(f"calibration={str(folder)!r} is not a folder of images")
        if self.preprocess is None:
            raise CompileError("calibration from a folder of images needs preprocess=neuronkit.Preprocess(...) to "
                               "say how pixels become inputs (layout, scale, mean, std)")
        if len(inputs) != 1:
            raise CompileError(f"calibration from images needs a model with one input; this one takes "
                               f"{', '.join(i.describe() for i in inputs)}: pass arrays instead")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:self.size]
        return [{inputs[0].name: _fit_batch(load_image(f, inputs[0], self.preprocess), inputs[0])} for f in files]


def split(samples: list) -> tuple[list, list]:
    """``(calibrate on, held out)``: a fifth held out (at most 50), none when there are fewer than 5."""
    held = min(len(samples) // 5, 50)
    return (samples[:len(samples) - held], samples[len(samples) - held:]) if held else (samples, [])


def _as_sample(item, inputs: Sequence[TensorSpec], index: int) -> dict:
    if isinstance(item, dict):
        missing = [i.name for i in inputs if i.name not in item]
        if missing:
            raise CompileError(f"calibration sample {index} has no {', '.join(missing)}; the model takes "
                               f"{_signature(inputs)}")
        values = [item[i.name] for i in inputs]
    else:
        values = list(item) if isinstance(item, (tuple, list)) else [item]
    if len(values) != len(inputs):
        raise CompileError(f"calibration sample {index} has {len(values)} inputs; the model takes "
                           f"{_signature(inputs)}")
    sample = {}
    for spec, value in zip(inputs, values):
        array = to_numpy(value)
        if array.dtype.name != spec.dtype:
            raise CompileError(f"calibration sample {index}: input {spec.name} is {array.dtype.name}, the model "
                               f"takes {_signature(inputs)}" + (" (x.astype('float32'))" if spec.dtype == "float32"
                                                                else ""))
        if array.ndim != len(spec.shape) or any(d is not None and d != s for d, s in zip(spec.shape[1:],
                                                                                         array.shape[1:])):
            raise CompileError(f"calibration sample {index}: input {spec.name} has shape {tuple(array.shape)}; "
                               f"the model takes {_signature(inputs)}")
        sample[spec.name] = _fit_batch(array, spec)
    return sample


def _fit_batch(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A sample's rows repeated or cut to a fixed compiled batch (a free batch takes it as it is)."""
    size = spec.shape[0]
    if size is None or array.shape[0] == size:
        return np.ascontiguousarray(array)
    return np.ascontiguousarray(array[np.arange(size) % array.shape[0]])


def to_numpy(value) -> np.ndarray:
    """An array from a numpy array, a torch or TensorFlow tensor, or an MXNet NDArray."""
    if hasattr(value, "detach"):  # a torch tensor that requires grad
        value = value.detach()
    for method in ("asnumpy", "numpy"):  # MXNet NDArray, torch and TensorFlow tensors
        if hasattr(value, method) and not isinstance(value, np.ndarray):
            return np.asarray(getattr(value, method)())
    return np.asarray(value)


def _signature(inputs: Sequence[TensorSpec]) -> str:
    return ", ".join(i.describe() for i in inputs)
