import json
import sys
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import mlp

import neuronkit
from neuronkit.bench import BenchResult, measure, table
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


def test_table_gives_ratios_to_the_baseline_at_each_batch():
    rows = [BenchResult("peer", 1, 10, 1.0, 1, (1.0,)), BenchResult("ours", 1, 25, 1.0, 1, (1.0,)),
            BenchResult("peer", 8, 10, 1.0, 1, (1.0,)), BenchResult("ours", 8, 5, 1.0, 1, (1.0,))]
    lines = table(rows, baseline="peer").splitlines()
    assert "2.50x" in lines[3] and "0.50x" in lines[5]


def test_bench_command_reports_throughput_over_replicas(tmp_path):
    path = neuronkit.compile(mlp()).save(tmp_path / "mlp.nk")
    out = CliRunner().invoke(cli, ["bench", str(path), "--batch", "4", "--seconds", "0.3", "--cores", "2",
                                   "--group-size", "1", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["core_groups"] == ["0", "1"] and data["threads"] == 4 and data["batch"] == 4
    assert data["calls"] > 0 and data["items_per_s"] > 0


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


def test_peer_report_compares_with_the_best_peer_at_each_precision_and_batch():
    from neuronkit.bench import peer_report

    rows = [("fp32", "neuronkit", "ours", {1: 30.0, 8: 40.0}), ("fp32", "peer", "a", {1: 20.0, 8: 50.0}),
            ("fp32", "peer", "b", {1: 25.0, 8: 10.0}), ("bf16", "peer", "c", {1: 9.0, 8: 9.0})]
    text, summary = peer_report(rows, [1, 8])
    assert "| fp32 | ours | 30.0 | 40.0 | 1.20x | 0.80x |" in text
    assert summary == [{"precision": "fp32", "best_peer": {1: 25.0, 8: 50.0}, "neuronkit_best": {1: 30.0, 8: 40.0}}]
    assert "fp32: neuronkit best / best peer = b1 1.20x, b8 0.80x" in text


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
