"""neuronkit.benchmark and `neuronkit bench`: NeuronPerf's report fields, their consistency, the
files written, artifacts side by side, configurations that cannot run, Ctrl-C. Timing values are
never asserted: only how the numbers relate to each other and to what the harness counted."""

import csv
import json
import signal
import statistics
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import mlp

import neuronkit
from neuronkit import bench
from neuronkit.bench import REPORT_COLUMNS, benchmark, measure
from neuronkit.cli import cli
from neuronkit.targets import cpu_features

NEURONPERF_FIELDS = ("throughput_avg", "throughput_peak", *(f"latency_ms_p{p}" for p in (0, 50, 90, 95, 99, 100)),
                     "load_avg_ms", "warmup_avg_ms", "infer_avg_ms", "n_models", "workers_per_model", "pipeline_size",
                     "batch_size", "model_filename", "cpu_avg_percent", "mem_avg_percent", "total_infs", "total_s")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def saved(tmp_path):
    """Save artifacts of the small ONNX model: ``saved(name, **compile_options)`` -> path."""
    def save(name="mlp.nk", **options):
        return neuronkit.compile(mlp(), **options).save(tmp_path / name)
    return save


def test_report_has_neuronperfs_fields_and_they_agree_with_what_the_harness_counted(saved):
    path = saved()
    report = benchmark(path, batch_sizes=[1, 4], cores=2, group_size=1, workers_per_replica=[1, 2], duration=0.15,
                       warmup=1, cost_per_hour=2.5)
    assert report.ok and not report.interrupted
    assert [(r["batch_size"], r["workers_per_model"]) for r in report.rows] == [(1, 1), (1, 2), (4, 1), (4, 2)]
    for r in report.rows:
        assert set(NEURONPERF_FIELDS) <= set(r) and set(r) <= set(REPORT_COLUMNS)
        assert r["status"] == "ok" and r["error"] == ""
        # one round: its rate is the harness's count over the harness's time
        assert r["rounds"] == 1 and r["throughput_rounds"] == [r["throughput_avg"]]
        assert r["throughput_avg"] == pytest.approx(r["batch_size"] * r["calls"] / r["total_s"], rel=1e-3)
        assert r["total_infs"] == r["calls"] * r["batch_size"]
        assert r["throughput_min"] == r["throughput_avg"] == r["throughput_max"] <= r["throughput_peak"]
        latencies = [r[f"latency_ms_p{p}"] for p in (0, 50, 90, 95, 99, 100)]
        assert latencies == sorted(latencies) and latencies[0] <= r["infer_avg_ms"] <= latencies[-1]
        assert r["cost_per_1m_inf"] == pytest.approx(2.5 / (r["throughput_avg"] * 3600) * 1e6, rel=1e-3)
        assert r["load_avg_ms"] is not None and r["warmup_avg_ms"] is not None
        # two replicas of one core each, the callers spread over them
        assert (r["n_models"], r["cores_per_replica"], r["core_groups"]) == (2, 1, ["0", "1"])
        assert r["threads"] == 2 * r["workers_per_model"] and r["pipeline_size"] == 1
        # neuronkit's own: what ran, on what
        assert (r["model_name"], r["model_filename"]) == ("mlp.nk", str(path))
        assert (r["target"], r["engine"], r["precision"], r["backend"], r["device_type"]) == (
            "cpu", "onnxruntime", "fp32", "onnx", "cpu")
        assert r["host_cpu"] == report.host["cpu_model"] and r["neuronkit_version"] == neuronkit.__version__
        for key in ("cpu_avg_percent", "cpu_percent_p50", "mem_avg_percent", "mem_rss_mb"):
            assert key in r and (r[key] is None or r[key] >= 0)
        assert "throughput_ratio" not in r  # one artifact: nothing to compare with
    assert report.host["cpu_model"] == bench.cpu_model()
    assert report.host["cpu_features"] == sorted(cpu_features())
    assert report.settings["batch_sizes"] == [1, 4] and report.settings["rounds"] == 1
    assert neuronkit.benchmark is benchmark


def test_impossible_configurations_are_error_rows_and_the_others_run(saved):
    static = saved("static.nk", batch_size=2, dynamic_batch=False)
    too_many = bench._cpu_count() + 1
    report = benchmark(static, batch_sizes=[2, 4], cores=[1, too_many], duration=0.1, warmup=1)
    rows = {(r["cores"], r["batch_size"]): r for r in report.rows}
    assert [r["status"] for r in report.rows] == ["ok", "error", "error", "error"]
    assert rows["1", 2]["throughput_avg"] > 0
    assert "compiled for batch 2 without dynamic batch, so batch 4 cannot run" in rows["1", 4]["error"]
    for batch in (2, 4):  # more cores (and so replicas) than this host has
        assert "ask for fewer" in rows[str(too_many), batch]["error"]
        assert rows[str(too_many), batch]["n_models"] is None and "throughput_avg" not in rows[str(too_many), batch]
    assert not report.ok


def test_a_configuration_failing_while_measured_is_an_error_row_and_the_sweep_goes_on(saved, monkeypatch):
    path = saved()
    real = neuronkit.Runtime.predict

    def predict(self, inputs):
        if len(inputs[0]) == 3:
            raise RuntimeError("the device ran out of memory")
        return real(self, inputs)

    monkeypatch.setattr(neuronkit.Runtime, "predict", predict)
    report = benchmark(path, batch_sizes=[1, 3, 5], duration=0.1, warmup=0)
    assert [(r["batch_size"], r["status"]) for r in report.rows] == [(1, "ok"), (3, "error"), (5, "ok")]
    assert report.rows[1]["error"] == "RuntimeError: the device ran out of memory"


def test_two_artifacts_are_interleaved_in_rounds_with_a_ratio_to_the_first(saved, monkeypatch):
    first, second = saved("a.nk"), saved("b.nk", precision="fp32")
    order = []
    real = bench.measure

    def spy(name, *args, **kwargs):
        order.append(name.split()[0])
        return real(name, *args, **kwargs)

    monkeypatch.setattr(bench, "measure", spy)
    report = benchmark([first, second], batch_sizes=2, duration=0.1, warmup=1, rounds=3)
    assert order == ["a.nk", "b.nk"] * 3  # round by round, each artifact in turn
    a, b = report.rows
    assert (a["model_name"], b["model_name"]) == ("a.nk", "b.nk")
    for r in (a, b):
        assert r["rounds"] == 3 and len(r["throughput_rounds"]) == 3
        assert r["throughput_avg"] == statistics.median(r["throughput_rounds"])
        assert (r["throughput_min"], r["throughput_max"]) == (min(r["throughput_rounds"]), max(r["throughput_rounds"]))
    assert a["throughput_ratio"] == 1.0
    assert b["throughput_ratio"] == pytest.approx(b["throughput_avg"] / a["throughput_avg"], rel=1e-3)
    assert report.settings["artifacts"] == [str(first), str(second)]


def test_inputs_given_as_an_example_or_per_batch(saved, monkeypatch):
    path = saved()
    seen = []
    real = neuronkit.Runtime.predict
    monkeypatch.setattr(neuronkit.Runtime, "predict", lambda self, x: seen.append(x[0].copy()) or real(self, x))
    example = np.arange(8, dtype=np.float32).reshape(2, 4)
    benchmark(path, inputs=example, batch_sizes=[3], duration=0.05, warmup=0)
    np.testing.assert_array_equal(seen[0], example[[0, 1, 0]])  # the example's rows, repeated to the batch
    seen.clear()
    report = benchmark(path, inputs={2: [example]}, batch_sizes=[2, 5], duration=0.05, warmup=0)
    np.testing.assert_array_equal(seen[0], example)
    assert [r["status"] for r in report.rows] == ["ok", "error"]
    assert report.rows[1]["error"] == "inputs has none for batch 5 (it has batches [2])"


def test_bad_arguments_are_neuronkit_errors(saved):
    path = saved()
    for kwargs in ({"batch_sizes": [0]}, {"duration": 0}, {"workers_per_replica": "2"}, {"cost_per_hour": -1.0}):
        with pytest.raises(neuronkit.NeuronkitError):
            benchmark(path, **kwargs)
    with pytest.raises(neuronkit.NeuronkitError, match="at least one artifact"):
        benchmark([])


def test_cli_writes_json_csv_and_a_png_with_a_ratio_column(saved, tmp_path):
    from PIL import Image

    first, second = saved("a.nk"), saved("b.nk")
    out = CliRunner().invoke(cli, ["bench", str(first), str(second), "--batch", "1", "--batch", "2", "--seconds", "0.1",
                                   "--rounds", "1", "--warmup", "1", "-o", str(tmp_path / "out" / "report.json"),
                                   "--plot", str(tmp_path / "plot.png"), "--cost-per-hour", "1.5", "--json"])
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout)
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == printed
    assert printed["host"]["cpu_model"] and printed["settings"]["cost_per_hour"] == 1.5
    rows = printed["reports"]
    assert [(r["model_name"], r["batch_size"]) for r in rows] == [("a.nk", 1), ("b.nk", 1), ("a.nk", 2), ("b.nk", 2)]
    with open(tmp_path / "out" / "report.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[:5] == ["model_name", "n_models", "workers_per_model", "pipeline_size", "batch_size"]
    assert "throughput_ratio" in table[0] and "cost_per_1m_inf" in table[0]
    assert [float(t["throughput_avg"]) for t in table] == [r["throughput_avg"] for r in rows]
    assert [float(t["throughput_ratio"]) for t in table][::2] == [1.0, 1.0]
    png = (tmp_path / "plot.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 20_000  # a drawn chart, not an empty canvas
    with Image.open(tmp_path / "plot.png") as image:
        assert image.width >= 800 and image.height >= 500
        assert len(image.convert("L").getcolors(1 << 16)) > 20  # text, lines and markers, not one colour
    assert "wrote" in out.stderr and "report.csv" in out.stderr


def test_cli_table_prints_names_as_written_and_explains_what_could_not_run(saved, tmp_path):
    odd = saved("[bold]odd [red]x.nk")
    static = saved("static.nk", batch_size=1, dynamic_batch=False)
    out = CliRunner().invoke(cli, ["bench", str(odd), str(static), "--batch", "1", "--batch", "3", "--seconds", "0.1",
                                   "--rounds", "1", "--plot", str(tmp_path / "p.png")])
    assert out.exit_code == 1, out.output  # a configuration could not run
    assert "[bold]odd [red]x.nk" in out.stdout  # never read as markup
    assert "ratio" in out.stdout and "1.00x" in out.stdout
    assert "error (1)" in out.stdout
    assert "(1) the artifact was compiled for batch 1 without dynamic batch, so batch 3 cannot run" in out.stdout
    assert (tmp_path / "p.png").read_bytes().startswith(PNG)


def test_the_table_never_reads_names_as_markup(saved):
    from rich.console import Console

    report = benchmark(saved("[red]x [bold]y.nk"), duration=0.05, warmup=0)
    console = Console(record=True, width=200)  # markup on, as a user's console would have it
    console.print(report.table())
    assert "[red]x [bold]y.nk" in console.export_text()


def test_ctrl_c_keeps_what_was_measured_and_leaves_nothing_running(saved, monkeypatch):
    path = saved()
    real, calls, closed = bench.measure, [], []

    def interrupted_on_the_second(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real_close = neuronkit.Runtime.close
    monkeypatch.setattr(neuronkit.Runtime, "close", lambda self: closed.append(self) or real_close(self))
    monkeypatch.setattr(bench, "measure", interrupted_on_the_second)
    before = set(threading.enumerate())
    with pytest.raises(bench.Interrupted) as caught:
        benchmark(path, batch_sizes=[1, 2], cores=[1, 2], duration=0.05, warmup=0)
    report = caught.value.report
    assert isinstance(caught.value, KeyboardInterrupt) and report.interrupted
    assert [r["status"] for r in report.rows] == ["ok", "interrupted", "interrupted", "interrupted"]
    assert report.rows[1]["error"].startswith("Ctrl-C stopped the benchmark")
    assert len(closed) == 1  # the one runtime loaded was closed
    assert set(threading.enumerate()) <= before  # no caller or monitor thread left

    calls.clear()
    out = CliRunner().invoke(cli, ["bench", str(path), "--batch", "1", "--batch", "2", "--seconds", "0.05",
                                   "--json", "-o", str(path.parent / "partial")])
    assert out.exit_code == 130
    written = json.loads((path.parent / "partial.json").read_text())
    assert written["interrupted"] and [r["status"] for r in written["reports"]] == ["ok", "interrupted"]
    assert (path.parent / "partial.csv").exists()


def test_measure_stops_every_caller_on_ctrl_c():
    main = threading.main_thread().ident
    sent = threading.Event()

    def fn(x):
        time.sleep(0.002)
        if not sent.is_set():
            sent.set()
            signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C, delivered to the thread waiting in measure

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        measure("interrupted", fn, None, batch=1, seconds=60, warmup=0, threads=3)
    assert time.perf_counter() - start < 30  # stopped, not run out its 60 s
    assert not [t for t in threading.enumerate() if t.name.startswith("measure-")]


def test_monitor_reads_cpu_and_memory_per_window_and_works_without_psutil(monkeypatch):
    monitor = bench._Monitor(interval=0.01)
    monitor.cpus, monitor.total_memory = 1, 1000
    monitor.samples = [(0.0, 0.0, 100), (1.0, 0.5, 200), (2.0, 1.5, 300), (3.0, 1.5, 400)]
    usage = monitor.usage([(0.5, 2.0)])  # the sample before the window starts it
    assert usage["cpu_percent_p50"] == pytest.approx(75.0) and usage["cpu_percent_p100"] == pytest.approx(100.0)
    assert usage["cpu_avg_percent"] == pytest.approx(75.0)  # 1.5 CPU seconds in 2 s on one CPU
    assert usage["mem_avg_percent"] == pytest.approx(25.0) and usage["mem_rss_mb"] == pytest.approx(300 / 1e6)
    assert monitor.usage([(5.0, 6.0)])["cpu_avg_percent"] is None  # no sample in it: no number

    monkeypatch.setitem(__import__("sys").modules, "psutil", None)  # not installed
    with bench._Monitor(interval=0.01) as fallback:
        time.sleep(0.05)
    assert fallback.source == "os" and fallback.samples and fallback.samples[-1][2] > 0


def test_a_malformed_core_spec_is_an_error_before_anything_runs(saved):
    path = saved()
    for cores in ("abc", 0, "3-1", [[0, 1], [3]]):
        with pytest.raises(neuronkit.CoreSpecError):
            benchmark(path, cores=[1, cores], duration=0.05)
