"""Measure throughput and latency the honest way: warm up first, then keep every replica busy.

A common mistake on Neuron is timing one call from one thread on one core and concluding the
hardware is slow. :func:`measure` runs ``threads`` callers concurrently (by default two per
replica, so a replica never waits for its next input), after a warm-up, for a fixed time, and
reports items per second with latency percentiles.

:func:`compare` is the harness every script in ``benchmarks/`` uses, and yours can too: it
measures a list of :class:`Configuration` (neuronkit's ways of running a model and its peers')
in rounds that interleave them, so a drift in machine load touches every configuration alike,
reports a configuration that fails instead of stopping, and :func:`report` prints one shape of
result, the peer-ratio table (:func:`peer_table`): each configuration's items/s (median over the
rounds) and its ratio to the best peer at the same precision and batch, under the CPU model.

    parser = bench.argument_parser(__doc__, seconds=3.0)
    args = parser.parse_args()
    configurations = [bench.Configuration("neuronkit", "fp32", "neuronkit", lambda: neuronkit.load(art)),
                      bench.Configuration("onnxruntime", "fp32", "peer", make_session)]
    comparison = bench.run(configurations, {b: make_inputs(b) for b in args.batches}, args, "ResNet50")
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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


KINDS = ("neuronkit", "peer", "reference")


@dataclass(frozen=True)
class Prepared:
    """What a :class:`Configuration`'s ``make`` may return instead of a bare callable, to add a
    note to the configuration's name in the table (what an engine really ran, say)."""

    fn: Callable
    note: str = ""


@dataclass(frozen=True)
class Configuration:
    """One way of running the model, measured at each of its batch sizes in every round.

    :param name: shown in the table.
    :param precision: rows are compared only with peers at the same precision (and batch).
    :param kind: ``"neuronkit"``, ``"peer"`` (ratios are to the best peer) or ``"reference"``
        (shown with its ratio, counted as neither side).
    :param make: builds what is timed, once before the first round: ``make()``, or ``make(batch)``
        with ``per_batch``, returns ``fn(inputs)`` (or a :class:`Prepared`), which :func:`measure`
        calls from ``threads`` callers. With ``self_timed`` it returns ``sample(seconds)`` instead,
        which generates its own load (a server driven over the network) and returns a
        :class:`BenchResult`. Whatever it returns is closed after the last round if it has ``close()``.
    :param batches: which of the run's batch sizes it runs (default: all).
    """

    name: str
    precision: str
    kind: str
    make: Callable
    per_batch: bool = False
    batches: tuple[int, ...] | None = None
    threads: int = 1
    self_timed: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class Row:
    """One configuration at one batch size: its result in every round."""

    configuration: Configuration
    batch: int
    rounds: tuple[BenchResult, ...]
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.configuration.name} ({self.note})" if self.note else self.configuration.name

    @property
    def items_per_s(self) -> float:
        """The median over the rounds."""
        return statistics.median(r.items_per_s for r in self.rounds)

    @property
    def spread(self) -> tuple[float, float]:
        """The slowest and the fastest round, items/s."""
        speeds = [r.items_per_s for r in self.rounds]
        return min(speeds), max(speeds)

    def latency(self, percentile: float) -> float:
        """A percentile over every round's calls, ms."""
        return float(np.percentile([ms for r in self.rounds for ms in r.latencies_ms], percentile))


@dataclass(frozen=True)
class Failure:
    configuration: Configuration
    error: str


@dataclass
class Comparison:
    """What :func:`compare` measured: a row per configuration and batch, and what failed."""

    rows: list[Row]
    failures: list[Failure]
    seconds: float
    rounds: int
    batches: tuple[int, ...]

    @property
    def ok(self) -> bool:
        """False when a neuronkit configuration failed (a peer that cannot run here is expected)."""
        return not any(f.configuration.kind == "neuronkit" for f in self.failures)

    def to_dict(self, title: str = "") -> dict:
        _, summary = peer_table(self.rows)
        return {
            "title": title, "cpu": cpu_model(), "cpus": _cpu_count(), "seconds": self.seconds,
            "rounds": self.rounds, "batches": list(self.batches),
            "rows": [{"precision": r.configuration.precision, "kind": r.configuration.kind, "configuration": r.label,
                      "batch": r.batch, "items_per_s": round(r.items_per_s, 2),
                      "items_per_s_per_round": [round(x.items_per_s, 2) for x in r.rounds],
                      "latency_ms_p50": round(r.latency(50), 3), "latency_ms_p99": round(r.latency(99), 3)}
                     for r in self.rows],
            "failed": [{"precision": f.configuration.precision, "kind": f.configuration.kind,
                        "configuration": f.configuration.name, "error": f.error} for f in self.failures],
            "summary": [{"precision": s["precision"], **{k: {str(b): v for b, v in s[k].items()}
                                                          for k in ("best_peer", "neuronkit_best")}}
                        for s in summary],
        }


def _describe(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # The last line: MXNet and TensorFlow put their traceback first and the reason last.
    reason = lines[-1] if len(lines[-1]) <= 400 else lines[-1][:399] + "…"
    return f"{type(exc).__name__}: {reason}"


def compare(configurations: Sequence[Configuration], inputs: Mapping[int, object], seconds: float,
            rounds: int = 3, warmup: int = 3, log=None) -> Comparison:
    """Measure every configuration at every batch size in ``inputs`` (``{batch: inputs}``), in rounds.

    Every configuration is made first, in order (so global state a ``make`` sets and restores is
    seen by the ones after it as it would be in a sequential script). Then each round runs, batch by
    batch, every configuration for ``seconds`` in turn, with ``warmup`` calls first (one in later
    rounds). A configuration whose ``make`` or any measurement raises is reported in
    :attr:`Comparison.failures`, with none of its rows, and the others go on. Progress goes to
    ``log`` (stderr by default).
    """
    log = sys.stderr if log is None else log
    batches = tuple(inputs)
    failed: dict[int, Failure] = {}
    samplers: dict[tuple[int, int], Callable] = {}
    notes: dict[tuple[int, int], str] = {}
    made: list = []

    def fail(index: int, exc: Exception) -> None:
        configuration = configurations[index]
        failed[index] = Failure(configuration, _describe(exc))
        print(f"  {configuration.precision} {configuration.name}: failed: {failed[index].error}", file=log, flush=True)

    def sampler(c: Configuration, obj, batch: int) -> Callable:
        if c.self_timed:
            return lambda s, w: obj(s)
        return lambda s, w: measure(c.name, obj, inputs[batch], batch, s, warmup=w, threads=c.threads)

    results: dict[tuple[int, int], list[BenchResult]] = {}
    try:
        for i, c in enumerate(configurations):
            wanted = [b for b in batches if c.batches is None or b in c.batches]
            if not wanted:
                continue
            start = time.perf_counter()
            print(f"  preparing {c.precision} {c.name} ...", file=log, flush=True)
            try:
                if c.per_batch:
                    objs = {}
                    for b in wanted:
                        objs[b] = c.make(b)
                        made.append(objs[b])
                else:
                    made.append(c.make())
                    objs = dict.fromkeys(wanted, made[-1])
            except Exception as exc:  # a configuration that cannot run here is reported, not fatal
                fail(i, exc)
                continue
            for b, obj in objs.items():
                if isinstance(obj, Prepared):
                    notes[i, b], obj = obj.note, obj.fn
                samplers[i, b] = sampler(c, obj, b)
                results[i, b] = []
            print(f"  prepared {c.name} in {time.perf_counter() - start:.0f} s", file=log, flush=True)
        for round_ in range(rounds):
            for b in batches:
                for i, c in enumerate(configurations):
                    if (i, b) not in samplers or i in failed:
                        continue
                    try:
                        result = samplers[i, b](seconds, warmup if round_ == 0 else min(warmup, 1))
                    except Exception as exc:
                        fail(i, exc)
                        continue
                    results[i, b].append(result)
                    print(f"  round {round_ + 1}/{rounds} b{b} {c.precision} {c.name:<48} "
                          f"{result.items_per_s:8.1f} items/s", file=log, flush=True)
    finally:
        for obj in reversed(made):
            close = getattr(obj.fn if isinstance(obj, Prepared) else obj, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # measuring is done; say so, and close the others
                    print(f"  closing {obj!r} failed: {_describe(exc)}", file=log)
    rows = [Row(configurations[i], b, tuple(rs), notes.get((i, b), "")) for (i, b), rs in results.items()
            if i not in failed and rs]
    return Comparison(rows, [failed[i] for i in sorted(failed)], seconds, rounds, batches)


def peer_table(rows: Sequence[Row]) -> tuple[str, list[dict]]:
    """The peer-ratio table, in markdown, and a summary per precision.

    Rows are grouped by precision and batch; each shows its items/s (median over the rounds, the
    slowest and fastest round beside it), latency percentiles over every round's calls, and its
    ratio to the best peer at the same precision and batch (``-`` where no peer ran).

    :return: the text (the table, then ``PRECISION: neuronkit best / best peer = ...`` lines) and
        ``[{"precision", "neuronkit_best": {batch: items/s}, "best_peer": {batch: items/s}}]`` for the
        precisions and batches both sides ran.
    """
    lines = ["| precision | batch | configuration | items/s | min-max | p50 ms | p99 ms | vs best peer |",
             "|---|---|---|---|---|---|---|---|"]
    summary = []
    for precision in dict.fromkeys(r.configuration.precision for r in rows):
        mine = [r for r in rows if r.configuration.precision == precision]
        best_peer, best_ours = {}, {}
        for batch in sorted({r.batch for r in mine}):
            at = [r for r in mine if r.batch == batch]
            peer = max((r.items_per_s for r in at if r.configuration.kind == "peer"), default=0.0)
            for r in at:
                low, high = r.spread
                ratio = f"{r.items_per_s / peer:.2f}x" if peer else "-"
                lines.append(f"| {precision} | {batch} | {r.label} | {r.items_per_s:.1f} | {low:.1f}-{high:.1f} | "
                             f"{r.latency(50):.2f} | {r.latency(99):.2f} | {ratio} |")
            ours = [r.items_per_s for r in at if r.configuration.kind == "neuronkit"]
            if peer and ours:
                best_peer[batch], best_ours[batch] = peer, max(ours)
        if best_peer:
            summary.append({"precision": precision, "neuronkit_best": best_ours, "best_peer": best_peer})
    lines.append("")
    for s in summary:
        lines.append(f"{s['precision']}: neuronkit best / best peer = " + ", ".join(
            f"b{b} {s['neuronkit_best'][b] / s['best_peer'][b]:.2f}x" for b in s["best_peer"]))
    return "\n".join(lines).rstrip("\n"), summary


CPUINFO = Path("/proc/cpuinfo")
_WANTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def _fields(text: str, *names: str) -> list:
    """The values of ``name: value`` lines (the first of each name), None where absent."""
    found: dict = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found.setdefault(name.strip(), value.strip())
    return [found.get(name) for name in names]


def cpu_model() -> str:
    """This CPU's model name and the vector extensions inference speed depends on (AVX2 to AMX):
    from ``lscpu``, else ``/proc/cpuinfo``, else :mod:`platform`."""
    model = flags = None
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10,
                              env={**os.environ, "LC_ALL": "C"}).stdout
        model, flags = _fields(text, "Model name", "Flags")
    except (OSError, subprocess.SubprocessError):
        pass
    if not model:
        try:
            model, flags = _fields(CPUINFO.read_text(), "model name", "flags")
        except OSError:
            pass
    model = (model or "").strip() or platform.processor() or platform.machine() or "unknown CPU"
    if flags is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return model
    present = set(flags.split())
    return f"{model} ({', '.join(f for f in _WANTED_FLAGS if f in present) or 'no AVX2'})"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def report(comparison: Comparison, title: str) -> str:
    """The CPU model and how it was measured, the peer-ratio table, then what failed."""
    table_text, _ = peer_table(comparison.rows)
    lines = [title, f"CPU: {cpu_model()}; {_cpu_count()} cores for this process; Python {platform.python_version()}",
             f"{comparison.rounds} round{'s' if comparison.rounds != 1 else ''} interleaving the configurations, "
             f"{comparison.seconds:g} s per configuration "
             f"and batch in each; items/s is the median over the rounds, latencies are over every round's calls",
             "", table_text]
    if comparison.failures:
        lines.append("")
        lines += [f"failed: {f.configuration.precision} {f.configuration.name} ({f.configuration.kind}): {f.error}"
                  for f in comparison.failures]
    return "\n".join(lines)


def argument_parser(description: str | None, seconds: float, rounds: int = 3,
                    batches: Sequence[int] | None = (1, 8)) -> argparse.ArgumentParser:
    """The options every benchmark script shares: ``--seconds``, ``--rounds``, ``--batches``
    (left out with ``batches=None``) and ``--json``. Add the script's own to it."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=seconds,
                        help="measuring time per configuration, batch and round (default: %(default)g)")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help="rounds, each running every configuration in turn (default: %(default)d)")
    if batches is not None:
        parser.add_argument("--batches", type=int, nargs="+", default=list(batches),
                            help="batch sizes (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write the results to this JSON file")
    return parser


def run(configurations: Sequence[Configuration], inputs: Mapping[int, object], args: argparse.Namespace,
        title: str, log=None) -> Comparison:
    """:func:`compare` with the options from :func:`argument_parser`, then print :func:`report` (and
    write ``--json``). A script's exit status is then ``0 if comparison.ok else 1``."""
    comparison = compare(configurations, inputs, args.seconds, args.rounds, log=log)
    print()
    print(report(comparison, title), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(comparison.to_dict(title), indent=2))
    return comparison
