"""Measure throughput and latency the honest way: warm up first, then keep every replica busy.

:func:`benchmark` (``neuronkit.benchmark``, ``neuronkit bench``) is the one most users want: it
sweeps compiled artifacts over batch sizes and replica layouts and reports NeuronPerf's fields
(:class:`BenchmarkReport`, written as JSON, CSV and a PNG). It measures with the two below.

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
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import NeuronkitError


@dataclass(frozen=True)
class BenchResult:
    """What :func:`measure` timed: ``calls`` calls of ``batch`` items in ``seconds``, and each call's latency.

    ``warmup_ms`` are the untimed warm-up calls' latencies, ``ends_s`` when each timed call ended
    (seconds after the timed part began, at ``started`` on :func:`time.perf_counter`'s clock)."""

    name: str
    batch: int
    calls: int
    seconds: float
    threads: int
    latencies_ms: tuple[float, ...]
    warmup_ms: tuple[float, ...] = ()
    ends_s: tuple[float, ...] = ()
    started: float = 0.0

    @property
    def items_per_s(self) -> float:
        return self.calls * self.batch / self.seconds

    def peak_items_per_s(self, window: float | None = None) -> float:
        """The highest rate over any window: the whole run, or one of the consecutive ``window``-second
        stretches it holds (default: 1 s, or a quarter of a shorter run), counting calls by when they ended."""
        window = window or min(1.0, self.seconds / 4)
        counts: dict[int, int] = {}
        for end in self.ends_s:
            counts[int(end // window)] = counts.get(int(end // window), 0) + 1
        whole = int(self.seconds // window)  # only windows that lie inside the run
        return max([self.items_per_s] + [n * self.batch / window for k, n in counts.items() if k < whole])

    def latency(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile))

    def to_dict(self) -> dict:
        return {"name": self.name, "batch": self.batch, "threads": self.threads, "calls": self.calls,
                "seconds": round(self.seconds, 3), "items_per_s": round(self.items_per_s, 2),
                **{f"latency_ms_p{p}": round(self.latency(p), 3) for p in (50, 90, 99)}}


def measure(name: str, fn: Callable, inputs, batch: int, seconds: float = 5.0, warmup: int = 3,
            threads: int = 1) -> BenchResult:
    """Call ``fn(inputs)`` from ``threads`` threads for ``seconds`` after ``warmup`` calls each.

    If a call raises, the other threads stop and the first exception is raised here. On Ctrl-C
    (:class:`KeyboardInterrupt` in the calling thread) every thread finishes the call it is in and
    stops before the interrupt goes on: nothing is left running."""
    warm = []
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn(inputs)
        warm.append((time.perf_counter() - t0) * 1e3)
    latencies: list = []
    ends: list = []
    errors: list = []
    stop = threading.Event()
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def worker(finished: threading.Event):
        mine, mine_ends = [], []
        try:
            while True:  # at least one call per thread, so even a very short run has a latency to report
                t0 = time.perf_counter()
                fn(inputs)
                t1 = time.perf_counter()
                mine.append((t1 - t0) * 1e3)
                mine_ends.append(t1 - start)
                if errors or stop.is_set() or t1 >= deadline:
                    break
        except BaseException as exc:  # raised in the caller's thread after the join, not lost with this one
            errors.append(exc)
        finally:
            with lock:
                latencies.extend(mine)
                ends.extend(mine_ends)
            finished.set()

    # Waiting on events, not Thread.join: a KeyboardInterrupt inside join() marks a thread that is still
    # running as stopped (CPython), and a second join() would then return before it stopped.
    done = [threading.Event() for _ in range(threads)]
    pool = [threading.Thread(target=worker, args=(d,), name=f"measure-{name}-{i}") for i, d in enumerate(done)]
    try:
        for t in pool:
            t.start()
        for d in done:
            d.wait()
    except BaseException:  # Ctrl-C while waiting: stop the callers, wait for them, then let it go on
        stop.set()
        for t, d in zip(pool, done):
            if t.ident is not None:
                d.wait()
        raise
    finally:
        for t in pool:
            if t.ident is not None:
                t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return BenchResult(name, batch, len(latencies), elapsed, threads, tuple(latencies), tuple(warm), tuple(ends),
                       start)


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
            rounds: int = 3, warmup: int = 3, log=None,
            on_result: Callable[[Configuration, int | None, BenchResult | Failure], None] | None = None) -> Comparison:
    """Measure every configuration at every batch size in ``inputs`` (``{batch: inputs}``), in rounds.

    Every configuration is made first, in order (so global state a ``make`` sets and restores is
    seen by the ones after it as it would be in a sequential script). Then each round runs, batch by
    batch, every configuration for ``seconds`` in turn, with ``warmup`` calls first (one in later
    rounds). A configuration whose ``make`` or any measurement raises is reported in
    :attr:`Comparison.failures`, with none of its rows, and the others go on. Progress goes to
    ``log`` (stderr by default), and each measurement (or failure, with the batch it happened at,
    None while making) to ``on_result(configuration, batch, result_or_failure)`` as it happens, so a
    caller keeps what was measured even when Ctrl-C ends the comparison early.
    """
    log = sys.stderr if log is None else log
    batches = tuple(inputs)
    failed: dict[int, Failure] = {}
    samplers: dict[tuple[int, int], Callable] = {}
    notes: dict[tuple[int, int], str] = {}
    made: list = []

    def fail(index: int, exc: Exception, batch: int | None = None) -> None:
        configuration = configurations[index]
        failed[index] = Failure(configuration, _describe(exc))
        print(f"  {configuration.precision} {configuration.name}: failed: {failed[index].error}", file=log, flush=True)
        if on_result:
            on_result(configuration, batch, failed[index])

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
                        fail(i, exc, b)
                        continue
                    results[i, b].append(result)
                    if on_result:
                        on_result(c, b, result)
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


# -- neuronkit.benchmark: NeuronPerf's report for compiled artifacts ----------------------------------------

PERCENTILES = (0, 50, 90, 95, 99, 100)

#: A report row's fields, in the order the CSV has them: NeuronPerf's (the ones of its CSV that apply
#: here, with its names), then neuronkit's own. Columns no row has (``cost_per_1m_inf`` without a
#: cost per hour, ``throughput_ratio`` with one artifact) are left out.
REPORT_COLUMNS = (
    "model_name", "n_models", "workers_per_model", "pipeline_size", "batch_size", "throughput_avg", "throughput_peak",
    *(f"latency_ms_p{p}" for p in PERCENTILES), "cpu_avg_percent", "cpu_percent_p50", "mem_avg_percent",
    "mem_percent_p50", "infer_avg_ms", "total_infs", "total_s", "model_filename", "device_type", "instance_type",
    "cost_per_1m_inf",
    "status", "error", "throughput_min", "throughput_max", "throughput_rounds", "throughput_ratio", "rounds",
    "load_avg_ms", "warmup_avg_ms", "calls", "threads", "cores", "group_size", "cores_per_replica", "core_groups",
    "cpu_percent_p100",
    "mem_percent_p100", "mem_rss_mb", "target", "engine", "precision", "backend", "host_cpu", "neuronkit_version")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`benchmark`. By the time it is raised every caller thread has stopped and
    every runtime is closed; :attr:`report` holds what was measured (rows that never ran have status
    ``"interrupted"``)."""

    def __init__(self, report: BenchmarkReport):
        super().__init__("benchmark interrupted")
        self.report = report


@dataclass
class BenchmarkReport:
    """What :func:`benchmark` measured: one dict per configuration in :attr:`rows` (NeuronPerf's
    report fields, see :data:`REPORT_COLUMNS`), the host it ran on and the settings it ran with."""

    rows: list[dict]
    host: dict
    settings: dict
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """Every configuration ran."""
        return bool(self.rows) and all(r["status"] == "ok" for r in self.rows)

    def to_dict(self) -> dict:
        from . import __version__

        return {"neuronkit_version": __version__, "host": self.host, "settings": self.settings,
                "interrupted": self.interrupted, "reports": self.rows}

    def columns(self) -> list[str]:
        return [c for c in REPORT_COLUMNS if any(c in r for r in self.rows)]

    def write_json(self, path) -> Path:
        path = _writable(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def write_csv(self, path) -> Path:
        """One line per row, the columns of :data:`REPORT_COLUMNS` (lists joined with spaces)."""
        import csv

        path = _writable(path)
        columns = self.columns()
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for r in self.rows:
                writer.writerow([" ".join(str(x) for x in v) if isinstance(v, list) else "" if v is None else v
                                 for v in (r.get(c) for c in columns)])
        return path

    def plot(self, path) -> Path:
        """Draw throughput against p99 latency, one point per configuration that ran (the bar: the
        slowest and fastest round), a line through each artifact's batch sizes per replica layout,
        to a PNG. Needs matplotlib (``pip install "neuronkit[bench]"``)."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise NeuronkitError('drawing the benchmark needs matplotlib: pip install "neuronkit[bench]"') from None

        def plain(text: str) -> str:  # as written: no mathtext, and a legend entry never hidden by a leading "_"
            text = str(text).replace("$", r"\$")
            return "\u200b" + text if text.startswith("_") else text

        fig = Figure(figsize=(10, 6.5), dpi=120, layout="constrained")
        ax = fig.add_subplot()
        ran = [r for r in self.rows if r["status"] == "ok"]
        models = list(dict.fromkeys(r["model_name"] for r in self.rows))
        colours = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                   "tab:gray", "tab:olive", "tab:cyan")
        markers = ("o", "s", "^", "D", "v", "P", "X", "*")
        for mi, model in enumerate(models):
            series: dict = {}
            for r in ran:
                if r["model_name"] == model:
                    series.setdefault((r["n_models"], r["cores_per_replica"], r["workers_per_model"]), []).append(r)
            for si, ((n, size, workers), points) in enumerate(series.items()):
                points.sort(key=lambda r: r["batch_size"])
                x = [r["latency_ms_p99"] for r in points]
                y = [r["throughput_avg"] for r in points]
                spread = [[r["throughput_avg"] - r["throughput_min"] for r in points],
                          [r["throughput_max"] - r["throughput_avg"] for r in points]]
                ax.errorbar(x, y, yerr=spread, color=colours[mi % len(colours)], marker=markers[si % len(markers)],
                            markersize=7, capsize=3, linewidth=1.5,
                            label=plain(f"{model}: {n} replica{'s' if n != 1 else ''} x {size} core"
                                        f"{'s' if size != 1 else ''}, {workers:g} worker{'s' if workers != 1 else ''}"
                                        f" each"))
                for r in points:
                    ax.annotate(f"b{r['batch_size']}", (r["latency_ms_p99"], r["throughput_avg"]),
                                textcoords="offset points", xytext=(6, 6), fontsize=9)
        for axis, values in (("x", [r["latency_ms_p99"] for r in ran]), ("y", [r["throughput_avg"] for r in ran])):
            positive = [v for v in values if v > 0]
            if positive and max(positive) / min(positive) > 20:
                (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        from matplotlib.ticker import FuncFormatter

        def plain_number(value, _=None) -> str:
            return f"{value:,.0f}" if abs(value) >= 10 else f"{value:g}"

        def some_minor(value, _=None) -> str:  # on a log axis, label 2x and 5x between the powers of ten
            return plain_number(value) if value > 0 and f"{value:e}"[0] in "25" else ""

        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            axis.set_major_formatter(FuncFormatter(plain_number))
            if scale == "log":
                axis.set_minor_formatter(FuncFormatter(some_minor))
        ax.set_xlabel("p99 latency (ms)", fontsize=11)
        ax.set_ylabel("throughput (inferences/s, median of the rounds)", fontsize=11)
        ax.grid(True, alpha=0.3)
        if ran:
            ax.legend(fontsize=9, loc="best")
        else:
            ax.text(0.5, 0.5, "no configuration ran", transform=ax.transAxes, ha="center", fontsize=12)
        settings, host = self.settings, self.host
        rounds = settings.get("rounds", 1)
        ax.set_title(plain(f"Throughput vs p99 latency ({rounds} round{'s' if rounds != 1 else ''} of "
                           f"{settings.get('duration', 0):g} s per configuration)\n{host.get('cpu_model', '')}, "
                           f"{host.get('cpus', '?')} CPUs"), fontsize=11)
        failed = len(self.rows) - len(ran)
        if failed:
            fig.text(0.01, 0.005, f"{failed} configuration{'s' if failed != 1 else ''} did not run (status in the "
                     f"report)", fontsize=8, color="dimgray")
        path = _writable(path)
        fig.savefig(path, format="png")
        return path

    def table(self):
        """The report as a :class:`rich.table.Table`, the reasons rows did not run numbered under it
        (every text is plain: file names are never read as markup)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        several = any("throughput_ratio" in r for r in self.rows)
        settings, host = self.settings, self.host
        rounds = settings.get("rounds", 1)
        reasons = list(dict.fromkeys(r["error"] for r in self.rows if r["status"] != "ok"))
        legend = (f"items/s: the median of {rounds} round{'s' if rounds != 1 else ''} of "
                  f"{settings.get('duration', 0):g} s{' interleaving the artifacts' if several else ''}; "
                  f"min-max: the slowest and fastest round; {'ratio: to the first artifact; ' if several else ''}"
                  f"latencies over every call; layout: replicas x cores each, callers per replica"
                  + ("; interrupted (Ctrl-C): rows hold the rounds measured before it" if self.interrupted else ""))
        table = Table(title=Text(f"neuronkit bench on {host.get('cpu_model', '')}, {host.get('cpus', '?')} CPUs"),
                      caption=Text("\n".join([legend] + [f"({i}) {why}" for i, why in enumerate(reasons, 1)])),
                      caption_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True)
        for name in ("model", "batch", "layout", "items/s", "min-max", *(("ratio",) if several else ()),
                     "p50 ms", "p99 ms", "status"):  # NeuronPerf's printed columns; load, CPU, memory: JSON/CSV
            table.add_column(name, justify="left" if name in ("model", "status") else "right",
                             overflow="fold", no_wrap=name not in ("model", "status", "layout"))

        def number(value) -> str:
            if value is None:
                return "-"
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.2g}"

        for r in self.rows:
            if r["n_models"]:
                workers = f"{r['threads']} callers" if r["workers_per_model"] is None or settings.get("threads") \
                    else f"w{r['workers_per_model']:g}"
                layout = f"{r['n_models']}x{r['cores_per_replica']} {workers}"
            else:  # what was asked for
                layout = f"cores={r['cores'] or 'all'}" + (f"/{r['group_size']}" if r["group_size"] else "")
            if r["status"] == "ok":
                status = Text("ok", "green")
                spread = f"{number(r['throughput_min'])}-{number(r['throughput_max'])}"
            else:
                status = Text(f"{r['status']} ({reasons.index(r['error']) + 1})",
                              "yellow" if r["status"] == "interrupted" else "red")
                spread = "-"
            ratio = r.get("throughput_ratio")
            cells = [r["model_name"], str(r["batch_size"]), layout, number(r.get("throughput_avg")), spread,
                     *((f"{ratio:.2f}x" if ratio is not None else "-",) if several else ()),
                     number(r.get("latency_ms_p50")), number(r.get("latency_ms_p99"))]
            table.add_row(*(Text(c) for c in cells), status)
        return table


def _writable(path) -> Path:
    """``path``, its folder made if missing; a folder that cannot be made is a :class:`NeuronkitError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeuronkitError(f"cannot write {path} ({exc.strerror or exc}); choose a folder you can write to") \
            from None
    return path


class _Monitor:
    """Samples this process's CPU time and resident memory from a thread (psutil if installed, else
    :mod:`os` and ``/proc`` or :mod:`resource`), so each measurement's share can be read back by its
    start and end. CPU is a percentage of the CPUs this process may use; memory of the host's."""

    def __init__(self, interval: float):
        self.interval = interval
        self.samples: list[tuple[float, float, int]] = []  # (perf_counter, CPU seconds, RSS bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="neuronkit-bench-monitor", daemon=True)
        self.cpus = _cpu_count()
        try:
            import psutil

            process = psutil.Process()

            def read():
                times = process.cpu_times()
                return times.user + times.system, process.memory_info().rss

            self.read, self.total_memory, self.source = read, psutil.virtual_memory().total, "psutil"
        except ImportError:
            self.read, self.total_memory, self.source = _os_usage, _total_memory(), "os"

    def __enter__(self) -> _Monitor:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        try:
            cpu, rss = self.read()
        except Exception:  # a process table that cannot be read: no numbers, never a failed benchmark
            return
        self.samples.append((time.perf_counter(), cpu, rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def usage(self, windows: Sequence[tuple[float, float]]) -> dict:
        """CPU and memory use over the ``(start, end)`` windows together; None where no sample fell."""
        percents, busy, spent, rss = [], 0.0, 0.0, []
        for start, end in windows:
            inside = [s for s in self.samples if start <= s[0] <= end]
            before = [s for s in self.samples if s[0] < start][-1:]
            run = before + inside
            for (t0, c0, _), (t1, c1, _) in zip(run, run[1:]):
                if t1 > t0:
                    percents.append(100 * (c1 - c0) / (t1 - t0) / self.cpus)
                    busy, spent = busy + c1 - c0, spent + t1 - t0
            rss += [s[2] for s in inside]
        mem = [100 * b / self.total_memory for b in rss] if self.total_memory else []
        return {"cpu_avg_percent": 100 * busy / spent / self.cpus if spent else None,
                "cpu_percent_p50": _percentile(percents, 50), "cpu_percent_p100": _percentile(percents, 100),
                "mem_avg_percent": sum(mem) / len(mem) if mem else None,
                "mem_percent_p50": _percentile(mem, 50), "mem_percent_p100": _percentile(mem, 100),
                "mem_rss_mb": max(rss) / 1e6 if rss else None}


def _percentile(values, p: float) -> float | None:
    return float(np.percentile(values, p)) if len(values) else None


def _os_usage() -> tuple[float, int]:
    times = os.times()
    try:  # resident pages now (Linux)
        rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource  # the peak instead: kB on Linux, bytes on macOS

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = peak if sys.platform == "darwin" else peak * 1024
    return times.user + times.system, rss


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class _Entry:
    """One artifact being benchmarked."""

    art: object
    filename: str
    label: str


@dataclass
class _Slot:
    """One configuration: an artifact at a batch size on a replica layout with a number of workers."""

    entry: _Entry
    index: int                     # of the artifact, in the order given
    layout: int
    cores: object
    group_size: int | None
    batch: int
    workers: int | None            # per replica; None when a total number of threads is given
    total_threads: int | None
    groups: list | None            # None when the layout cannot be had here
    inputs: list | None
    error: str | None
    load_ms: float | None = None
    results: list = field(default_factory=list)

    @property
    def threads(self) -> int:
        return self.workers * len(self.groups) if self.workers else self.total_threads

    @property
    def key(self) -> tuple:
        """Configurations of the artifacts with the same key are compared with each other."""
        return self.layout, self.batch, self.workers

    def describe(self) -> str:
        return f"{self.entry.label} b{self.batch} {len(self.groups)}x{self.groups[0].size} " + (
            f"w{self.workers}" if self.workers else f"{self.threads} threads")


class _Tally:
    """Measurements done of all, for ``progress``."""

    def __init__(self, total: int, progress):
        self.done, self.total, self.progress = 0, total, progress

    def say(self, message: str) -> None:
        if self.progress:
            self.progress(self.done, self.total, message)


class _Call:
    """What is timed: the runtime on this configuration's inputs (the harness's own inputs are unused:
    artifacts side by side may have different signatures)."""

    def __init__(self, runtime, inputs):
        self.runtime, self.inputs = runtime, inputs

    def __call__(self, _):
        return self.runtime(self.inputs)


def benchmark(artifact_or_path, inputs=None, batch_sizes=None, cores=None, group_size=None, workers_per_replica=2,
              duration: float = 10.0, warmup: int = 3, *, rounds: int | None = None, threads: int | None = None,
              cost_per_hour: float | None = None, load_options: Mapping | None = None,
              progress: Callable[[int, int, str], None] | None = None, log=None) -> BenchmarkReport:
    """Benchmark one artifact, or several side by side, over batch sizes and replica layouts.

    Each configuration (artifact x batch size x layout x workers) is loaded (timed: ``load_avg_ms``),
    warmed up (``warmup_avg_ms``), then driven by worker threads that keep every replica busy for
    ``duration`` seconds, through :func:`compare` (the harness ``benchmarks/`` uses: one way to
    measure). Several artifacts are measured in ``rounds`` that interleave them, so a drift in the
    machine's load touches each alike; each row gives the median round and the slowest and fastest.

    :param artifact_or_path: an :class:`~neuronkit.Artifact` or a saved artifact's path, or a list of
        them; with several, each row has ``throughput_ratio``: its ``throughput_avg`` over the first
        artifact's in the same configuration.
    :param inputs: ``None``: random inputs from the signature; an example (an array, a list in
        signature order or a dict by input name) whose rows are repeated or cut to each batch size;
        or ``{batch_size: inputs}``.
    :param batch_sizes: an int or a list (default: each artifact's compiled batch, else 1). A static
        artifact at another batch is a row with status ``"error"``; the sweep goes on.
    :param cores: where to load, as :func:`neuronkit.load` reads it (``None``: all, a count, ``"0-3"``),
        or a list of those to sweep (a list of ints is a list of counts: ``[1, 2]``; give indices as
        text, ``"0,1"``). A layout this host cannot give (more cores than it has) is an error row.
    :param group_size: cores per replica, or a list to sweep (default: as :func:`neuronkit.load`).
    :param workers_per_replica: caller threads per replica (NeuronPerf's ``workers_per_model``), or a
        list to sweep; 2 keeps a replica busy while its next input is handed over.
    :param duration: measuring seconds per configuration and round.
    :param warmup: untimed calls per replica before the first round (one before each later round).
    :param rounds: default 1 for one artifact, 3 for several.
    :param threads: total caller threads, instead of ``workers_per_replica`` per replica.
    :param cost_per_hour: the host's price per hour, for ``cost_per_1m_inf``.
    :param load_options: passed to :func:`neuronkit.load` (the backend's load options).
    :param progress: called as ``progress(done, total, message)`` while it runs (measurements done of all).
    :param log: where the harness's progress lines go (stderr by default).
    :return: a :class:`BenchmarkReport`. Ctrl-C raises :class:`Interrupted` carrying the partial
        report, once every caller has stopped and every runtime is closed.

    Worker threads, never processes: nothing is forked after a Neuron runtime starts in this process,
    and the host is described (``lscpu``) before any runtime loads.
    """
    from .cores import plan_groups
    from .targets import cpu_features, discover, get_target

    entries = _entries(artifact_or_path)
    if not (isinstance(duration, (int, float)) and duration > 0):
        raise NeuronkitError(f"duration={duration!r}: give the measuring time per configuration in seconds, more "
                             f"than 0")
    if not (isinstance(warmup, int) and warmup >= 0):
        raise NeuronkitError(f"warmup={warmup!r}: give a number of calls, 0 or more")
    batches = _counts(batch_sizes, "batch_sizes") or sorted({e.art.manifest.batch_size or 1 for e in entries})
    sizes = _counts(group_size, "group_size") or [None]
    if threads is not None:
        workers = [None]
        _counts(threads, "threads")
    else:
        workers = _counts(workers_per_replica, "workers_per_replica") or [2]
    rounds = rounds if rounds is not None else 3 if len(entries) > 1 else 1
    _counts(rounds, "rounds")
    if cost_per_hour is not None and not (isinstance(cost_per_hour, (int, float)) and cost_per_hour > 0):
        raise NeuronkitError(f"cost_per_hour={cost_per_hour!r}: give the price of an hour, more than 0")
    spread = [cores] if cores is None or isinstance(cores, (int, str)) else list(cores) or [None]
    for spec in spread:
        _check_cores(spec)
    layouts = list(itertools.product(spread, sizes))

    # The host first: lscpu runs in a child process, which must not be forked from a process whose
    # Neuron runtime has started.
    machine = discover()
    monitor = _Monitor(interval=min(0.5, max(0.02, duration / 10)))
    host = {"cpu_model": cpu_model(), "cpu_features": sorted(cpu_features()), "cpus": _cpu_count(),
            "instance_type": machine.instance_type, "neuron_cores": machine.neuron_cores,
            "python": platform.python_version(), "platform": platform.platform(), "stats": monitor.source}
    settings = {"artifacts": [e.filename or e.label for e in entries], "batch_sizes": batches,
                "cores": [None if c is None else str(c) for c in spread], "group_size": sizes,
                "workers_per_replica": None if threads else workers, "threads": threads, "duration": duration,
                "warmup": warmup, "rounds": rounds, "cost_per_hour": cost_per_hour}

    # Every configuration is planned before anything loads: what will run, and what cannot here and why.
    slots: list[_Slot] = []
    for li, (core_spec, size) in enumerate(layouts):
        plans = {}
        for ai, e in enumerate(entries):
            try:
                plans[ai] = plan_groups(get_target(e.art.manifest.target), machine, core_spec, size,
                                        e.art.manifest.pipeline_cores), None
            except NeuronkitError as exc:
                plans[ai] = None, str(exc)
        for b in batches:
            made = {}
            for ai, e in enumerate(entries):
                groups, reason = plans[ai]
                data = None
                reason = reason or _batch_error(e.art.manifest, b)
                if reason is None:
                    data, reason = _inputs_for(e.art, b, inputs)
                made[ai] = groups, data, reason
            for w in workers:
                for ai, e in enumerate(entries):
                    slots.append(_Slot(e, ai, li, core_spec, size, b, w, threads, *made[ai]))

    tally = _Tally(rounds * sum(1 for s in slots if s.error is None), progress)
    interrupted = False
    with monitor:
        tally.say("starting")
        try:
            for li in range(len(layouts)):
                mine = [s for s in slots if s.layout == li and s.error is None]
                if mine:
                    _run_layout(mine, batches, duration, rounds, warmup, dict(load_options or {}), tally, log)
        except KeyboardInterrupt:
            interrupted = True
    report = BenchmarkReport(_rows(slots, host, monitor, cost_per_hour, len(entries) > 1), host, settings, interrupted)
    if interrupted:
        raise Interrupted(report)
    return report


def _run_layout(slots: Sequence[_Slot], batches, duration: float, rounds: int, warmup: int, load_options: dict,
                tally: _Tally, log) -> None:
    """Measure the configurations of one replica layout with :func:`compare`: each artifact is
    loaded once (when its first configuration is made) and closed when the layout is done."""
    from .api import load

    runtimes: dict = {}  # artifact index -> (its Runtime on this layout, ms to load), or what loading raised
    by_config: dict = {}

    def make(s: _Slot) -> Callable:
        def made():
            if s.index not in runtimes:
                tally.say(f"loading {s.entry.label} on {len(s.groups)}x{s.groups[0].size}")
                start = time.perf_counter()
                try:
                    runtime = load(s.entry.art, cores=s.cores, group_size=s.group_size, **load_options)
                except Exception as exc:  # every configuration of the artifact fails with it; the others go on
                    runtimes[s.index] = exc
                else:
                    runtimes[s.index] = runtime, (time.perf_counter() - start) * 1e3
            if isinstance(runtimes[s.index], Exception):
                raise runtimes[s.index]
            runtime, s.load_ms = runtimes[s.index]
            return _Call(runtime, s.inputs)
        return made

    def on_result(configuration, batch, outcome):
        s = by_config[id(configuration)]
        if isinstance(outcome, Failure):
            s.error = outcome.error
            tally.done += rounds - len(s.results)
            tally.say(f"failed: {s.describe()}: {outcome.error}")
        else:
            s.results.append(outcome)
            tally.done += 1
            tally.say(f"round {len(s.results)}/{rounds} {s.describe()}: {outcome.items_per_s:,.1f} items/s")

    configurations = []
    for s in slots:
        c = Configuration(s.describe(), s.entry.art.manifest.precision, "neuronkit", make(s), batches=(s.batch,),
                          threads=s.threads)
        configurations.append(c)
        by_config[id(c)] = s
    try:
        compare(configurations, dict.fromkeys(b for b in batches if any(s.batch == b for s in slots)), duration,
                rounds, warmup * max(len(s.groups) for s in slots), log=log, on_result=on_result)
    finally:
        for loaded in runtimes.values():
            if not isinstance(loaded, Exception):
                loaded[0].close()


def _entries(artifact_or_path) -> list[_Entry]:
    from .artifact import Artifact, open_artifact

    single = isinstance(artifact_or_path, (str, os.PathLike, Artifact))
    items = [artifact_or_path] if single else list(artifact_or_path)
    if not items:
        raise NeuronkitError("give at least one artifact (or the path of one) to benchmark")
    entries = []
    for item in items:
        if isinstance(item, Artifact):
            entries.append(_Entry(item, "", f"{item.backend}/{item.manifest.engine or item.target}"))
        else:
            entries.append(_Entry(open_artifact(item), str(item), Path(item).name))
    labels = [e.label for e in entries]
    for i, e in enumerate(entries):
        if labels.count(e.label) > 1:
            e.label = f"{e.label} #{i + 1}"
    return entries


def _counts(value, name: str) -> list[int]:
    """An int or a list of them, each 1 or more (None: [])."""
    if value is None:
        return []
    values = [value] if isinstance(value, int) else list(value) if isinstance(value, (list, tuple)) else None
    if values is None or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise NeuronkitError(f"{name}={value!r}: give a whole number of 1 or more, or a list of them")
    return values


class _Roomy:
    """A host with every core there could be: what is still wrong with a core spec planned on it is
    the spec itself."""

    visible_cores = None

    def cores_for(self, target) -> int:
        from .targets import MAX_CORE_INDEX

        return MAX_CORE_INDEX + 1


def _check_cores(spec) -> None:
    """A malformed core spec (``"abc"``, ``0``, ``"3-1"``) is a :class:`~neuronkit.CoreSpecError` before
    anything runs; one this host cannot give (more cores than it has) becomes an error row instead."""
    from .cores import plan_groups
    from .targets import get_target, parse_core_list

    if spec is None or (isinstance(spec, int) and not isinstance(spec, bool) and spec >= 1):
        return
    if isinstance(spec, str):
        parse_core_list(spec)
    else:
        plan_groups(get_target("cpu"), _Roomy(), spec)


def _batch_error(manifest, batch: int) -> str | None:
    if manifest.batch_size is not None and not manifest.dynamic_batch and batch != manifest.batch_size:
        return (f"the artifact was compiled for batch {manifest.batch_size} without dynamic batch, so batch {batch} "
                f"cannot run; compile with --batch-size {batch} (or --dynamic-batch)")
    return None


def _inputs_for(art, batch: int, given) -> tuple[list | None, str | None]:
    """The inputs for ``batch`` (and None), or None and why there are none."""
    specs, axis = art.inputs, art.manifest.batch_axis
    if given is None:
        rng = np.random.default_rng(0)
        arrays = []
        for spec in specs:
            shape = [batch if i == axis else d for i, d in enumerate(spec.shape)]
            if None in shape:
                return None, (f"input {spec.describe()} has a free dimension besides the batch; pass inputs to "
                              f"neuronkit.benchmark")
            dtype = np.dtype(spec.dtype)
            arrays.append(rng.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                          else rng.integers(0, 2, shape).astype(dtype))
        return arrays, None
    if isinstance(given, Mapping) and given and all(isinstance(k, int) for k in given):
        if batch not in given:
            return None, f"inputs has none for batch {batch} (it has batches {sorted(given)})"
        return given[batch], None
    if isinstance(given, Mapping):
        missing = [s.name for s in specs if s.name not in given]
        if missing:
            return None, f"inputs has no {', '.join(missing)} (the model's inputs: {[s.name for s in specs]})"
        given = [given[s.name] for s in specs]
    elif not isinstance(given, (list, tuple)):
        given = [given]
    arrays = []
    for value in given:
        array = np.asarray(value)
        if array.ndim <= axis or array.shape[axis] == 0:
            return None, f"an example input of shape {array.shape} has no rows on the batch axis {axis} to repeat"
        arrays.append(np.take(array, np.arange(batch) % array.shape[axis], axis=axis))
    return arrays, None


def _round(value):
    """NeuronPerf's 3 decimals, with 4 significant digits kept for small numbers (a cost per inference)."""
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, float):
        return round(value, 3) if abs(value) >= 1 or value == 0 else float(f"{value:.4g}")
    return value


def _rows(slots: Sequence[_Slot], host: dict, monitor: _Monitor, cost_per_hour, several: bool) -> list[dict]:
    from . import __version__
    from .targets import get_target

    firsts = {s.key: s for s in slots if s.index == 0 and s.results}
    rows = []
    for s in slots:
        m = s.entry.art.manifest
        n = len(s.groups) if s.groups else None
        row = {"model_name": s.entry.label, "model_filename": s.entry.filename, "batch_size": s.batch, "n_models": n,
               "workers_per_model": s.workers if s.workers or not n else s.threads / n,
               "threads": s.threads if n else s.total_threads, "pipeline_size": m.pipeline_cores,
               "cores": None if s.cores is None else str(s.cores), "group_size": s.group_size,
               "cores_per_replica": s.groups[0].size if n else None,
               "core_groups": [str(g) for g in s.groups] if n else [], "target": m.target, "engine": m.engine,
               "precision": m.precision, "backend": m.backend.name,
               "device_type": "neuron" if get_target(m.target).is_neuron else "cpu",
               "instance_type": host["instance_type"], "host_cpu": host["cpu_model"], "neuronkit_version": __version__}
        if s.results:
            rs = s.results
            speeds = [r.items_per_s for r in rs]
            latencies = [ms for r in rs for ms in r.latencies_ms]
            warm = [ms for r in rs for ms in r.warmup_ms]
            calls = sum(r.calls for r in rs)
            row.update(status="ok", error="", throughput_avg=statistics.median(speeds),
                       throughput_peak=max(r.peak_items_per_s() for r in rs), throughput_min=min(speeds),
                       throughput_max=max(speeds), throughput_rounds=speeds, rounds=len(rs),
                       **{f"latency_ms_p{p}": float(np.percentile(latencies, p)) for p in PERCENTILES},
                       infer_avg_ms=float(np.mean(latencies)), load_avg_ms=s.load_ms / n if s.load_ms else None,
                       warmup_avg_ms=float(np.mean(warm)) if warm else None, calls=calls, total_infs=calls * s.batch,
                       total_s=sum(r.seconds for r in rs),
                       **monitor.usage([(r.started, r.started + r.seconds) for r in rs]))
            if cost_per_hour:
                row["cost_per_1m_inf"] = cost_per_hour / (row["throughput_avg"] * 3600) * 1e6
            if several:
                first = firsts.get(s.key)
                row["throughput_ratio"] = (row["throughput_avg"] / statistics.median(r.items_per_s for r in
                                                                                      first.results)
                                           if first else None)
        else:
            row.update(status="error" if s.error else "interrupted",
                       error=s.error or "Ctrl-C stopped the benchmark before this configuration ran")
        rows.append({k: _round(v) for k, v in row.items()})
    return rows
