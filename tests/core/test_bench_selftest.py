import json
import time

import numpy as np
from click.testing import CliRunner
from conftest import mlp

import neuronkit
from neuronkit.bench import BenchResult, measure, table
from neuronkit.cli import cli


def test_measure_counts_calls_from_every_thread():
    calls = []

    def fn(x):
        calls.append(x)
        time.sleep(0.002)

    result = measure("sleepy", fn, "x", batch=4, seconds=0.2, warmup=2, threads=3)
    assert result.calls == len(calls) - 2 and result.threads == 3
    assert result.items_per_s == result.calls * 4 / result.seconds
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
    assert "relative error vs cpu 0.0e+00" in rows[1]["detail"]


def test_selftest_fails_loudly_on_a_target_this_host_lacks(numpy_backend, clean_neuron_env, tmp_path):
    clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path))
    out = CliRunner().invoke(cli, ["selftest", "--framework", numpy_backend, "--target", "inf2", "--json"])
    assert out.exit_code == 1
    (row,) = json.loads(out.output)
    assert row["status"] == "FAIL" and "inf2 needs NeuronCore-v2" in row["detail"]


def test_selftest_runs_each_installed_backend_in_its_own_process():
    out = CliRunner().invoke(cli, ["selftest", "--json"])
    rows = {r["backend"]: r for r in json.loads(out.output)}
    assert rows["onnx"]["status"] == "ok"


def test_tiny_onnx_model_agrees_with_numpy():
    from neuronkit_onnx.backend import tiny_model
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
