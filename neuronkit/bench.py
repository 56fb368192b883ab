"""Measure throughput and latency the honest way: warm up first, then keep every replica busy.

A common mistake on Neuron is timing one call from one thread on one core and concluding the
hardware is slow. :func:`measure` runs ``threads`` callers concurrently (by default two per
replica, so a replica never waits for its next input), after a warm-up, for a fixed time, and
reports items per second with latency percentiles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BenchResult:
    name: str
    batch: int
    calls: int
    seconds: float
    threads: int
    latencies_ms: tuple[float, ...]

    @property
    def items_per_s(self) -> float:
        return self.calls * self.batch / self.seconds

    def latency(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile))

    def to_dict(self) -> dict:
        return {"name": self.name, "batch": self.batch, "threads": self.threads, "calls": self.calls,
                "seconds": round(self.seconds, 3), "items_per_s": round(self.items_per_s, 2),
                **{f"latency_ms_p{p}": round(self.latency(p), 3) for p in (50, 90, 99)}}


def measure(name: str, fn: Callable, inputs, batch: int, seconds: float = 5.0, warmup: int = 3,
            threads: int = 1) -> BenchResult:
    """Call ``fn(inputs)`` from ``threads`` threads for ``seconds`` after ``warmup`` calls each.

    If a call raises, the other threads stop and the first exception is raised here."""
    for _ in range(warmup):
        fn(inputs)
    latencies: list = []
    errors: list = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def worker():
        mine = []
        try:
            while True:  # at least one call per thread, so even a very short run has a latency to report
                t0 = time.perf_counter()
                fn(inputs)
                mine.append((time.perf_counter() - t0) * 1e3)
                if errors or time.perf_counter() >= deadline:
                    break
        except BaseException as exc:  # raised in the caller's thread after the join, not lost with this one
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return BenchResult(name, batch, len(latencies), elapsed, threads, tuple(latencies))


def table(results: Sequence[BenchResult], baseline: str | None = None) -> str:
    """A plain-text table of results, with each one's throughput as a ratio to ``baseline``'s
    (the first result by default) at the same batch size."""
    base = {}
    for r in results:
        if (baseline is None and r.batch not in base) or r.name == baseline:
            base[r.batch] = r.items_per_s
    rows = [("configuration", "batch", "threads", "items/s", "ratio", "p50 ms", "p99 ms")]
    for r in results:
        ratio = r.items_per_s / base[r.batch] if base.get(r.batch) else float("nan")
        rows.append((r.name, str(r.batch), str(r.threads), f"{r.items_per_s:.1f}", f"{ratio:.2f}x",
                     f"{r.latency(50):.2f}", f"{r.latency(99):.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def peer_report(rows: Sequence[tuple], batches: Sequence[int]) -> tuple[str, list]:
    """A markdown table comparing neuronkit with its peers, and a summary per precision.

    :param rows: ``(precision, kind, name, {batch: items/s})`` with ``kind`` ``"neuronkit"`` or ``"peer"``.
    :return: the table (each row's throughput with its ratio to the best peer at the same precision and
        batch) and ``[{"precision", "neuronkit_best", "best_peer"}]`` for the precisions both sides ran.
    """
    lines = ["| precision | configuration | " + " | ".join(f"b{b} img/s" for b in batches) + " | "
             + " | ".join(f"b{b} vs best peer" for b in batches) + " |",
             "|" + "---|" * (2 + 2 * len(batches))]
    summary = []
    for precision in dict.fromkeys(r[0] for r in rows):
        peers = [r for r in rows if r[0] == precision and r[1] == "peer"]
        ours = [r for r in rows if r[0] == precision and r[1] == "neuronkit"]
        best_peer = {b: max((r[3][b] for r in peers), default=0.0) for b in batches}
        for _, _kind, name, speeds in ours + peers:
            figures = " | ".join(f"{speeds[b]:.1f}" for b in batches)
            ratios = " | ".join(f"{speeds[b] / best_peer[b]:.2f}x" if best_peer[b] else "-" for b in batches)
            lines.append(f"| {precision} | {name} | {figures} | {ratios} |")
        if ours and peers:
            summary.append({"precision": precision, "best_peer": best_peer,
                            "neuronkit_best": {b: max(r[3][b] for r in ours) for b in batches}})
    lines.append("")
    for s in summary:
        lines.append(f"{s['precision']}: neuronkit best / best peer = " + ", ".join(
            f"b{b} {s['neuronkit_best'][b] / s['best_peer'][b]:.2f}x" for b in batches))
    return "\n".join(lines), summary
