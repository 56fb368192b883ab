"""How close a model's outputs are to a reference's: the measures ``neuronkit verify``, ``selftest``
and the compile report share, and the default tolerance of each precision preset.

Measures, over every output (classifier ones also by class):

- ``rel_error``: the L2 norm of the difference over the reference's norm, over the whole batch;
- ``max_abs_error``: the largest difference of one value;
- ``top1_agreement``: the share of rows whose best class is the reference's (outputs shaped
  ``[N, C]`` with ``C >= 5``, read as class scores);
- ``top5_overlap``: the mean share of the reference's five best classes among the five best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """The most ``rel_error`` and the least ``top1_agreement`` a precision may show against fp32."""

    rel_error: float
    top1_agreement: float


#: Per precision preset, against the fp32 model on the host. fp32 allows for NeuronCore-v1, which
#: runs fp32 matrix multiplications in bf16 even at neuron-cc's most accurate setting (``--fast-math
#: none``); bf16 keeps 8 bits of mantissa (about 0.4% per value, and errors add up over a deep
#: network: EfficientNet-Lite0 through OpenVINO bf16 measured 4.5e-2 on nine real photos, every
#: top-1 kept, and 5.1e-2 on crops of them); fp16 keeps 11. int8 (post-training static quantization) comes from what
#: EfficientNet-Lite0, a model known to be hard to quantize, showed on the same photos
#: (tests/torch/test_precision_accuracy.py, docs/performance.md): ONNX Runtime 1.7e-1 with every top-1
#: kept, OpenVINO through NNCF 2.2e-1 with 7 of 9. Top-1 agreement is checked on classifier outputs only.
TOLERANCES = {
    "fp32": Tolerance(rel_error=2e-2, top1_agreement=0.99),
    "bf16": Tolerance(rel_error=8e-2, top1_agreement=0.9),
    "fp16": Tolerance(rel_error=1e-2, top1_agreement=0.99),
    "int8": Tolerance(rel_error=2.5e-1, top1_agreement=0.75),
    # fp8 (e4m3, neuronx-cc on trn2+) keeps 3 bits of mantissa (about 6% per value), coarser than int8's
    # per-channel scales: int8's bounds, NOT measured (no Trainium here): verify on the device says more
    "fp8": Tolerance(rel_error=2.5e-1, top1_agreement=0.75),
}


def compare(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict:
    """The measures above for outputs against the reference's (the same shapes, in the same order)."""
    got = [np.asarray(o, np.float64) for o in outputs]
    want = [np.asarray(r, np.float64) for r in reference]
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        raise ValueError(f"outputs shaped {[g.shape for g in got]} cannot be compared with the reference's "
                         f"{[w.shape for w in want]}")
    diff = np.concatenate([(g - w).ravel() for g, w in zip(got, want)])
    norm = float(np.linalg.norm(np.concatenate([w.ravel() for w in want])))
    result = {"rel_error": float(np.linalg.norm(diff) / max(norm, 1e-12)),
              "max_abs_error": float(np.abs(diff).max()) if diff.size else 0.0}
    classes = [(g, w) for g, w in zip(got, want) if g.ndim == 2 and g.shape[1] >= 5]
    if classes:
        g, w = classes[0]  # the first classifier output
        result["top1_agreement"] = float(np.mean(g.argmax(1) == w.argmax(1)))
        top_g, top_w = np.argsort(-g, 1)[:, :5], np.argsort(-w, 1)[:, :5]
        result["top5_overlap"] = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top_g, top_w)]))
    return result


def failures(measures: dict, precision: str, *, rel_error: float | None = None, atol: float | None = None,
             top1_agreement: float | None = None) -> list:
    """What breaks the precision's tolerance (or the ones given instead), in words; empty when within."""
    default = TOLERANCES.get(precision, TOLERANCES["fp32"])
    rel = default.rel_error if rel_error is None else rel_error
    top1 = default.top1_agreement if top1_agreement is None else top1_agreement
    found = []
    if not np.isfinite(measures["rel_error"]) or measures["rel_error"] > rel:
        found.append(f"relative error {measures['rel_error']:.2e} > {rel:.2e}")
    if atol is not None and not measures["max_abs_error"] <= atol:
        found.append(f"max abs error {measures['max_abs_error']:.3g} > {atol:.3g}")
    if "top1_agreement" in measures and measures["top1_agreement"] < top1:
        found.append(f"top-1 agreement {measures['top1_agreement']:.1%} < {top1:.0%}")
    return found


def describe(measures: dict) -> str:
    parts = [f"relative error {measures['rel_error']:.2e}", f"max abs error {measures['max_abs_error']:.3g}"]
    if "top1_agreement" in measures:
        parts += [f"top-1 agreement {measures['top1_agreement']:.1%}", f"top-5 overlap {measures['top5_overlap']:.1%}"]
    return ", ".join(parts)


def measure(run, reference, samples: Sequence[dict], reference_name: str = "fp32") -> dict:
    """:func:`compare` of ``run(sample)`` with ``reference(sample)`` over ``samples`` (each ``{name: array}``;
    both return lists of arrays), with the reference's name and the sample count: a compile report's accuracy."""
    got, want = [run(s) for s in samples], [reference(s) for s in samples]
    joined = [[np.concatenate([np.asarray(o)[None] if np.ndim(o) == 0 else np.asarray(o) for o in parts])
               for parts in zip(*runs)] for runs in (got, want)]
    return {"reference": reference_name, "samples": len(samples), **compare(*joined)}
