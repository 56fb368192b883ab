import json
import sys
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import mlp

import neuronkit
from neuronkit import bench
from neuronkit.bench import BenchResult, Configuration, Prepared, Row, compare, measure, peer_table
from neuronkit.cli import cli


def test_measure_counts_calls_from_every_thread():
    calls = []  # (thread, start time) of every call, as the function itself saw them

    def fn(x):
        calls.append((threading.get_ident(), time.perf_counter()))
        time.sleep(0.002)

    result = measure("sleepy", fn, "x", batch=4, seconds=0.3, warmup=2, threads=3)
    timed = calls[2:]  # after the warm-up
    assert result.calls == len(timed) and result.threads == 3
    assert len({thread for thread, _ in timed}) == 3  # every thread called
    # Throughput as a stopwatch inside the function sees it, not the result's own formula again.
    window = timed[-1][1] - timed[0][1] + 0.002
    assert result.items_per_s == pytest.approx(len(timed) * 4 / window, rel=0.25)
    assert result.items_per_s <= 3 * 4 / 0.002  # three threads sleeping 2 ms cannot do better
    assert 2 <= result.latency(50) < 50  # a 2 ms sleep, as the timer saw it


def test_bench_command_reports_throughput_over_replicas(tmp_path):
    path = neuronkit.compile(mlp()).save(tmp_path / "mlp.nk")
    out = CliRunner().invoke(cli, ["bench", str(path), "--batch", "4", "--seconds", "0.2", "--cores", "2",
                                   "--group-size", "1", "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)["reports"]
    assert row["core_groups"] == ["0", "1"] and row["threads"] == 4 and row["batch_size"] == 4
    assert row["n_models"] == 2 and row["workers_per_model"] == 2  # two callers per replica by default
    assert row["calls"] > 0 and row["throughput_avg"] > 0
    out = CliRunner().invoke(cli, ["bench", str(path), "--seconds", "0.1", "--threads", "3", "--json"])
    (row,) = json.loads(out.stdout)["reports"]
    assert row["threads"] == 3 and row["n_models"] == 1 and row["workers_per_model"] == 3


def test_selftest_compares_each_neuron_target_with_cpu(numpy_backend, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1")
    out = CliRunner().invoke(cli, ["selftest", "--framework", numpy_backend, "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [(r["target"], r["status"]) for r in rows] == [("cpu", "ok"), ("inf1", "ok")]
    assert "relative error vs cpu 0.0e+00 (tolerance 2e-02 at fp32)" in rows[1]["detail"]


def test_selftest_fails_a_target_beyond_the_tolerance_and_says_it(numpy_backend, fake_neuron_host, monkeypatch):
    from conftest import NumpyReplica

    fake_neuron_host(1, 4, "NCv1")
    right_init, right_run = NumpyReplica.__init__, NumpyReplica.run

    def init(self, artifact, group, options):
        right_init(self, artifact, group, options)
        self.scale = 1.0 if artifact.target == "cpu" else 1.03  # inf1 is 3% off

    monkeypatch.setattr(NumpyReplica, "__init__", init)
    monkeypatch.setattr(NumpyReplica, "run", lambda self, inputs: [o * self.scale for o in right_run(self, inputs)])
    out = CliRunner().invoke(cli, ["selftest", "--framework", numpy_backend, "--json"])
    assert out.exit_code == 1
    rows = json.loads(out.output)
    assert [(r["target"], r["status"]) for r in rows] == [("cpu", "ok"), ("inf1", "FAIL")]
    assert "relative error vs cpu 3.0e-02 exceeds the fp32 tolerance 2e-02" in rows[1]["detail"]


def test_selftest_fails_loudly_on_a_target_this_host_lacks(numpy_backend, clean_neuron_env, tmp_path):
    clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path))
    out = CliRunner().invoke(cli, ["selftest", "--framework", numpy_backend, "--target", "inf2", "--json"])
    assert out.exit_code == 1
    (row,) = json.loads(out.output)
    assert row["status"] == "FAIL" and "inf2 needs NeuronCore-v2" in row["detail"]


def test_selftest_runs_each_installed_backend_in_its_own_process(monkeypatch):
    import subprocess

    from neuronkit import selftest

    commands = []
    real_run = subprocess.run

    def spy(cmd, *args, **kwargs):
        commands.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(selftest.subprocess, "run", spy)
    out = CliRunner().invoke(cli, ["selftest", "--json"])
    rows = {r["backend"]: r for r in json.loads(out.output)}
    assert rows["onnx"]["status"] == "ok"
    # One child process per backend, each testing only its own.
    assert sorted(cmd[cmd.index("--framework") + 1] for cmd in commands) == sorted(neuronkit.get_backends())
    assert all(cmd[:3] == [sys.executable, "-m", "neuronkit.cli"] for cmd in commands)


def test_tiny_onnx_model_agrees_with_numpy():
    from neuronkit_onnx import tiny_model
    from onnx import numpy_helper

    model, (x,) = tiny_model()
    w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    with neuronkit.load(neuronkit.compile(model, example_inputs=x)) as rt:
        np.testing.assert_allclose(rt(x), np.maximum(x @ w["w1"], 0) @ w["w2"], rtol=1e-5)


def _row(name, precision, kind, batch, *speeds, latencies=None):
    """A row whose rounds ran at ``speeds`` items/s, with the given (or 5 ms) latency in each."""
    rounds = tuple(BenchResult(name, 1, 1, 1 / v, 1, (ms,)) for v, ms in zip(speeds, latencies or [5.0] * len(speeds)))
    return Row(Configuration(name, precision, kind, make=None), batch, rounds)


def test_peer_table_gives_each_row_its_ratio_to_the_best_peer_at_its_precision_and_batch():
    rows = [_row("ours", "fp32", "neuronkit", 1, 30.0, 10.0, 32.0, latencies=[1.0, 2.0, 3.0]),
            _row("a", "fp32", "peer", 1, 20.0), _row("b", "fp32", "peer", 1, 25.0, 24.0, 26.0),
            _row("ref", "fp32", "reference", 1, 100.0),  # shown, never the best peer
            _row("ours", "fp32", "neuronkit", 8, 40.0), _row("a", "fp32", "peer", 8, 50.0),
            _row("b", "fp32", "peer", 8, 10.0),
            _row("c", "bf16", "peer", 1, 9.0), _row("ours", "bf16", "neuronkit", 8, 12.0)]
    text, summary = peer_table(rows)
    lines = text.splitlines()
    # the median of the rounds, the slowest and fastest, latencies over every round's calls
    assert "| fp32 | 1 | ours | 30.0 | 10.0-32.0 | 2.00 | 2.98 | 1.20x |" in lines
    assert "| fp32 | 1 | ref | 100.0 | 100.0-100.0 | 5.00 | 5.00 | 4.00x |" in lines
    assert "| fp32 | 8 | ours | 40.0 | 40.0-40.0 | 5.00 | 5.00 | 0.80x |" in lines
    assert "| bf16 | 8 | ours | 12.0 | 12.0-12.0 | 5.00 | 5.00 | - |" in lines  # no bf16 peer at batch 8
    order = [line.split(" | ")[:3] for line in lines if line.startswith("| fp32") or line.startswith("| bf16")]
    assert [(p[2:], b) for p, b, _ in order] == [("fp32", "1")] * 4 + [("fp32", "8")] * 3 + [("bf16", "1"),
                                                                                          ("bf16", "8")]
    assert len(summary) == 1 and summary[0]["precision"] == "fp32"
    assert summary[0]["neuronkit_best"] == pytest.approx({1: 30.0, 8: 40.0})
    assert summary[0]["best_peer"] == pytest.approx({1: 25.0, 8: 50.0})
    assert lines[-1] == "fp32: neuronkit best / best peer = b1 1.20x, b8 0.80x"


def test_compare_interleaves_the_configurations_in_rounds_and_reports_the_ones_that_fail():
    import io

    calls, closed = [], []

    class Model:
        def __init__(self, name):
            self.name = name

        def __call__(self, x):
            calls.append((self.name, x))

        def close(self):
            closed.append(self.name)

    def flaky():
        def fn(x):
            calls.append(("flaky", x))
            if len([c for c in calls if c[0] == "flaky"]) == 2:
                raise RuntimeError("Traceback of the framework\n  (frames)\nout of memory")
        return fn

    def broken():
        raise ValueError("no bf16 here")

    def server():
        def sample(seconds):
            calls.append(("server", seconds))
            return BenchResult("server", 1, 5, 1.0, 8, (1.0,))
        return sample

    configurations = [
        Configuration("ours", "fp32", "neuronkit", lambda: Prepared(Model("ours"), note="engine x")),
        Configuration("per batch", "fp32", "peer", lambda b: Model(f"peer{b}"), per_batch=True),
        Configuration("broken", "bf16", "peer", broken),
        Configuration("flaky", "fp32", "peer", flaky),
        Configuration("server", "fp32", "peer", server, batches=(8,), self_timed=True)]
    log = io.StringIO()
    # warmup 0 and a vanishing time: each measurement is exactly one call, so the order is visible
    comparison = compare(configurations, {1: "x1", 8: "x8"}, seconds=1e-9, rounds=2, warmup=0, log=log)
    assert calls == [("ours", "x1"), ("peer1", "x1"), ("flaky", "x1"),
                     ("ours", "x8"), ("peer8", "x8"), ("flaky", "x8"), ("server", 1e-9),
                     ("ours", "x1"), ("peer1", "x1"),
                     ("ours", "x8"), ("peer8", "x8"), ("server", 1e-9)]
    assert [(r.label, r.batch, len(r.rounds)) for r in comparison.rows] == [
        ("ours (engine x)", 1, 2), ("ours (engine x)", 8, 2), ("per batch", 1, 2), ("per batch", 8, 2),
        ("server", 8, 2)]
    assert [(f.configuration.name, f.error) for f in comparison.failures] == [
        ("broken", "ValueError: no bf16 here"), ("flaky", "RuntimeError: out of memory")]
    assert "flaky: failed: RuntimeError: out of memory" in log.getvalue()
    assert comparison.ok  # only peers failed
    assert closed == ["peer8", "peer1", "ours"]  # everything made is closed, last made first

    def no_model():
        raise ZeroDivisionError("division by zero")

    failed = compare([Configuration("ours", "fp32", "neuronkit", no_model)], {1: None}, 1e-9, 1, log=log)
    assert not failed.ok and failed.rows == []


def test_cpu_model_reads_lscpu_then_proc_cpuinfo_then_platform(monkeypatch, tmp_path):
    from types import SimpleNamespace

    lscpu = "Architecture:  x86_64\nModel name:    AMD EPYC 9R14\nFlags:         fpu avx2 avx512f avx512_bf16\n"
    monkeypatch.setattr(bench.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(bench.subprocess, "run", lambda *a, **k: SimpleNamespace(stdout=lscpu))
    assert bench.cpu_model() == "AMD EPYC 9R14 (avx2, avx512f, avx512_bf16)"

    def no_lscpu(*args, **kwargs):
        raise FileNotFoundError("lscpu")

    monkeypatch.setattr(bench.subprocess, "run", no_lscpu)
    monkeypatch.setattr(bench, "CPUINFO", tmp_path / "cpuinfo")
    bench.CPUINFO.write_text("processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu sse2\n\nprocessor\t: 1\n")
    assert bench.cpu_model() == "Intel Xeon (no AVX2)"
    bench.CPUINFO.unlink()
    monkeypatch.setattr(bench.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(bench.platform, "processor", lambda: "arm")
    assert bench.cpu_model() == "arm"


def test_argument_parser_has_the_options_every_benchmark_shares():
    args = bench.argument_parser("doc", seconds=3.0).parse_args([])
    assert (args.seconds, args.rounds, args.batches, args.json) == (3.0, 3, [1, 8], None)
    args = bench.argument_parser("doc", seconds=3.0).parse_args(
        ["--seconds", "0.2", "--rounds", "1", "--batches", "4", "--json", "out.json"])
    assert (args.seconds, args.rounds, args.batches, args.json) == (0.2, 1, [4], "out.json")
    with pytest.raises(SystemExit):
        bench.argument_parser("doc", seconds=3.0, batches=None).parse_args(["--batches", "1"])


def test_run_prints_the_cpu_then_the_peer_ratio_table_and_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "cpu_model", lambda: "Test CPU 9000 (avx2)")
    args = bench.argument_parser("doc", seconds=3.0).parse_args(
        ["--seconds", "1e-9", "--rounds", "2", "--batches", "1", "--json", str(tmp_path / "r.json")])

    def broken():
        raise OSError("no such engine")

    configurations = [Configuration("ours", "fp32", "neuronkit", lambda: (lambda x: None)),
                      Configuration("theirs", "fp32", "peer", lambda: (lambda x: None)),
                      Configuration("gone", "fp32", "peer", broken)]
    comparison = bench.run(configurations, {1: None}, args, "A model on this CPU")
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "A model on this CPU" and out[1].startswith("CPU: Test CPU 9000 (avx2);")
    assert "2 rounds interleaving the configurations" in out[2]
    assert any(line.startswith("| fp32 | 1 | theirs |") and line.endswith("| 1.00x |") for line in out)
    assert out[-1] == "failed: fp32 gone (peer): OSError: no such engine"
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["cpu"] == "Test CPU 9000 (avx2)" and data["rounds"] == 2
    assert [(r["configuration"], r["kind"], len(r["items_per_s_per_round"])) for r in data["rows"]] == [
        ("ours", "neuronkit", 2), ("theirs", "peer", 2)]
    assert data["failed"] == [{"precision": "fp32", "kind": "peer", "configuration": "gone",
                               "error": "OSError: no such engine"}]
    assert comparison.ok and len(data["summary"]) == 1


def test_measure_raises_what_a_call_raised_in_its_threads():
    calls = []

    def fn(x):
        calls.append(x)
        if len(calls) == 3:
            raise RuntimeError("the device went away")
        time.sleep(0.001)

    with pytest.raises(RuntimeError, match="the device went away"):
        measure("failing", fn, "x", batch=1, seconds=5.0, warmup=1, threads=2)
    assert len(calls) <= 5  # the other thread stopped too, long before the 5 s were up
