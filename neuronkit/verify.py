"""``neuronkit.verify`` / ``neuronkit verify``: is this compiled model as accurate as its reference?

Both run on the same inputs (the user's, or fresh ones drawn from the signature) and are compared
with :mod:`neuronkit.accuracy`'s measures against the tolerance of the artifact's precision, or
the ones given. The reference is another artifact (compiled at fp32 for the host, say), or the
model itself, which neuronkit then compiles at fp32 for this host's CPU: what users ask for when
they doubt a compiled model, on any target.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import accuracy
from .artifact import MANIFEST, Artifact
from .calibration import IMAGE_SUFFIXES
from .errors import InputError, NeuronkitError
from .types import TensorSpec

DEFAULT_SAMPLES = 8


class VerificationFailed(NeuronkitError):
    """The compiled model is further from its reference than its precision's tolerance allows."""

    def __init__(self, result: Verification):
        super().__init__(f"{result.summary()}; compile at a higher precision, calibrate on more representative data, "
                         f"or pass looser tolerances if this is expected")
        self.result = result


@dataclass(frozen=True)
class Verification:
    precision: str
    samples: int
    measures: dict
    failures: tuple[str, ...]
    tolerances: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        verdict = "within tolerance" if self.ok else "OUT OF TOLERANCE (" + "; ".join(self.failures) + ")"
        return (f"{self.precision} artifact vs its reference on {self.samples} samples: "
                f"{accuracy.describe(self.measures)}: {verdict}")

    def to_dict(self) -> dict:
        return {"ok": self.ok, "precision": self.precision, "samples": self.samples, **self.measures,
                "failures": list(self.failures), "tolerances": self.tolerances}


def judge(got: tuple, want: tuple, precision: str, samples: int, *, atol: float | None = None,
          rtol: float | None = None, top1_agreement: float | None = None) -> Verification:
    """The artifact's outputs (``got``) against the reference's, at the precision's tolerance or the ones given."""
    measures = accuracy.compare(got, want)
    default = accuracy.TOLERANCES.get(precision, accuracy.TOLERANCES["fp32"])
    tolerances = {"rel_error": default.rel_error if rtol is None else rtol,
                  "top1_agreement": default.top1_agreement if top1_agreement is None else top1_agreement}
    if atol is not None:
        tolerances["atol"] = atol
    found = accuracy.failures(measures, precision, rel_error=tolerances["rel_error"], atol=atol,
                              top1_agreement=tolerances["top1_agreement"])
    return Verification(precision, samples, measures, tuple(found), tolerances)


def is_artifact(value) -> bool:
    if isinstance(value, Artifact):
        return True
    if not isinstance(value, (str, os.PathLike)):
        return False
    path = Path(value)
    if path.is_dir():
        return (path / MANIFEST).is_file()
    try:  # the one-file form is a ZIP holding neuronkit.json (a TorchScript file is a ZIP too)
        with zipfile.ZipFile(path) as archive:
            return MANIFEST in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def inputs_for(art: Artifact, data, samples: int, seed: int = 0) -> tuple:
    """The inputs to verify on: ``data`` as :func:`neuronkit.verify` takes it, or rows drawn from the signature."""
    specs = art.inputs
    if data is None:
        rng = np.random.default_rng(seed)
        return tuple(_random(spec, samples, rng) for spec in specs)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            return (_images(art, path),)
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"cannot read {path} as .npy or .npz ({exc}); save inputs with numpy.save / "
                             f"numpy.savez, or give a folder of images") from None
        if isinstance(loaded, np.ndarray):
            return (loaded,)
        with loaded:
            return tuple(loaded[name] for name in loaded.files)
    return tuple(np.asarray(x) for x in (data if isinstance(data, (tuple, list)) else (data,)))


def _random(spec: TensorSpec, rows: int, rng) -> np.ndarray:
    shape = tuple(rows if i == 0 else (d or 1) for i, d in enumerate(spec.shape))
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 10, shape).astype(dtype)


def _images(art: Artifact, folder: Path) -> np.ndarray:
    from .images import load_image

    if len(art.inputs) != 1:
        raise InputError("a folder of images feeds a model with one input; give a .npz with one array per input")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return np.concatenate([load_image(f, art.inputs[0], art.manifest.preprocess) for f in files])


def check_signatures(mine, theirs) -> None:
    if len(mine) != len(theirs):
        raise InputError(f"the reference takes {len(theirs)} inputs, the artifact {len(mine)}: they are not the "
                         f"same model")
    for a, b in zip(mine, theirs):
        if a.dtype != b.dtype or len(a.shape) != len(b.shape) or any(
                x is not None and y is not None and x != y for x, y in zip(a.shape[1:], b.shape[1:])):
            raise InputError(f"input {a.describe()} of the artifact differs from the reference's {b.describe()}")


def run(rt, inputs: tuple) -> tuple:
    """``rt``'s outputs for every row of ``inputs``; a fixed-batch artifact (no dynamic batch) is fed
    its batch at a time, the last one filled by repeating rows, and the outputs are cut back."""
    m = rt.artifact.manifest
    count = int(inputs[0].shape[0]) if inputs[0].ndim else 1
    if m.dynamic_batch or not m.batch_size or count == m.batch_size:
        out = rt(list(inputs))
        return out if isinstance(out, tuple) else (out,)
    size = m.batch_size
    filled = [rows(x, -(-count // size) * size) for x in inputs]
    parts = []
    for start in range(0, len(filled[0]), size):
        out = rt([x[start:start + size] for x in filled])
        parts.append(out if isinstance(out, tuple) else (out,))
    return tuple(np.concatenate(chunks)[:count] for chunks in zip(*parts))


def rows(array: np.ndarray, count: int) -> np.ndarray:
    """``count`` rows of ``array``, repeated or cut."""
    return np.ascontiguousarray(array[np.arange(count) % array.shape[0]]) if array.ndim else array
