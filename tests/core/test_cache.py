"""The compile cache (neuronkit.cache): hits, misses, damage, a cache that cannot be written, two
processes at once, and eviction. Each test has its own cache folder."""

import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import mlp

import neuronkit
from neuronkit import cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_an_identical_compile_is_a_verified_hit_and_any_change_a_miss(cache_dir):
    first = neuronkit.compile(mlp(), cache=True)
    again = neuronkit.compile(mlp(), cache=True)
    assert (first.cache, again.cache) == ("stored", "hit")
    assert again.manifest == first.manifest and len(cache.entries()) == 1
    x = np.ones((2, 4), np.float32)
    with neuronkit.load(first) as a, neuronkit.load(again) as b:
        np.testing.assert_array_equal(a(x), b(x))
    assert neuronkit.compile(mlp(seed=1), cache=True).cache == "stored"                 # other weights
    assert neuronkit.compile(mlp(), cache=True, dynamic_batch=False).cache == "stored"  # another option
    assert len(cache.entries()) == 3


def test_a_model_file_is_keyed_by_its_bytes(cache_dir, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(mlp(), path)
    assert [neuronkit.compile(path, cache=True).cache for _ in range(2)] == ["stored", "hit"]
    onnx.save(mlp(seed=2), path)
    assert neuronkit.compile(path, cache=True).cache == "stored"


def test_off_by_default_in_tests_and_with_the_switch(cache_dir, monkeypatch):
    assert neuronkit.compile(mlp()).cache == ""  # neuronkit's pytest plugin sets NEURONKIT_CACHE=off
    monkeypatch.setenv("NEURONKIT_CACHE", "on")
    assert neuronkit.compile(mlp()).cache == "stored"
    assert neuronkit.compile(mlp(), cache=False).cache == ""


def test_a_damaged_entry_is_removed_and_compiled_again(cache_dir):
    neuronkit.compile(mlp(), cache=True)
    (entry,) = cache.entries()
    model = entry.path / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="is damaged.*removed, compiling again"):
        art = neuronkit.compile(mlp(), cache=True)
    assert art.cache == "stored" and neuronkit.compile(mlp(), cache=True).cache == "hit"


def test_a_cache_that_cannot_be_written_warns_and_compiles(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("NEURONKIT_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot be written.*compiling without it"):
        art = neuronkit.compile(mlp(), cache=True)
    assert art.cache == "" and art.manifest.inputs[0].name == "x"


def test_two_processes_compiling_the_same_model_make_one_entry(cache_dir, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(mlp(), path)
    code = f"import neuronkit; print(neuronkit.compile({str(path)!r}, cache=True).cache)"
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    said = sorted(run.communicate(timeout=120)[0].strip() for run in runs)
    assert said == ["hit", "stored"] and len(cache.entries()) == 1


def test_least_recently_used_entries_go_beyond_the_limit(cache_dir, monkeypatch):
    neuronkit.compile(mlp(seed=1), cache=True)
    (older,) = cache.entries()
    monkeypatch.setenv("NEURONKIT_CACHE_MAX_GB", str(older.size * 1.5 / 1e9))  # room for one entry
    neuronkit.compile(mlp(seed=2), cache=True)
    (kept,) = cache.entries()
    assert kept.key != older.key and not older.path.exists()


def test_calibration_data_is_part_of_the_key_and_a_generator_is_read_once(cache_dir):
    pytest.importorskip("sympy")
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, 4)).astype(np.float32) for _ in range(10)]
    first = neuronkit.compile(mlp(), precision="int8", calibration=(s for s in samples), calibration_size=10,
                              cache=True)
    assert first.cache == "stored" and first.manifest.report.accuracy["samples"] == 2
    assert neuronkit.compile(mlp(), precision="int8", calibration=samples, calibration_size=10,
                             cache=True).cache == "hit"
    assert neuronkit.compile(mlp(), precision="int8", calibration=samples[:9], calibration_size=9,
                             cache=True).cache == "stored"


def test_the_cache_command_lists_removes_and_clears(cache_dir):
    import json

    from click.testing import CliRunner

    from neuronkit.cli import cli

    for seed in (1, 2):
        neuronkit.compile(mlp(seed=seed), cache=True)
    run = CliRunner().invoke
    info = json.loads(run(cli, ["cache", "info", "--json"]).output)
    assert info["folder"] == str(cache_dir) and info["entries"] == 2 and info["bytes"] > 0
    rows = json.loads(run(cli, ["cache", "ls", "--json"]).output)
    assert [r["model"] for r in rows] == ["onnx -> cpu/onnxruntime fp32"] * 2
    assert run(cli, ["cache", "rm", rows[0]["key"][:12]]).exit_code == 0 and len(cache.entries()) == 1
    assert run(cli, ["cache", "rm", "zzzz"]).exit_code == 1
    assert "removed 1 entries" in run(cli, ["cache", "clear"]).output and cache.entries() == []
