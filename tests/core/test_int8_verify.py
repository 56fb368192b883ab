"""precision='int8' through the core's ONNX Runtime engine, calibration data, the accuracy the compile
report measures, and neuronkit.verify / neuronkit verify (the ONNX backend: no framework needed)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import mlp

import neuronkit
from neuronkit import CompileError, InputError, VerificationFailed, accuracy
from neuronkit.cli import cli
from neuronkit.engines.onnxruntime import int8_settings

pytest.importorskip("sympy")


def calibration(count=40, seed=0, in_dim=4):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, in_dim)).astype(np.float32) for _ in range(count)]


@pytest.fixture(scope="module")
def int8_artifact():
    with pytest.warns(RuntimeWarning, match="40 samples, fewer than calibration_size=300"):
        return neuronkit.compile(mlp(), precision="int8", calibration=calibration())


def test_int8_needs_calibration_data_and_says_what_to_pass():
    with pytest.raises(CompileError, match="precision='int8' needs calibration=.*never calibrates on random data"):
        neuronkit.compile(mlp(), precision="int8")


def test_int8_is_quantized_as_fast_on_this_cpu_and_measured_against_fp32(int8_artifact, tmp_path):
    m = int8_artifact.manifest
    assert m.precision == "int8" and m.engine == "onnxruntime"
    assert m.flags[0].startswith("quantize_static(QDQ,") and "calibration samples=32" in m.flags[0]
    assert m.flags[1].startswith("host CPU features:")
    accuracy_ = m.report.accuracy
    assert accuracy_["reference"] == "fp32" and accuracy_["samples"] == 8  # the held-out fifth
    assert 0 < accuracy_["rel_error"] < 0.1 and accuracy_["max_abs_error"] > 0  # quantized: close, not equal
    x = calibration(5, seed=9)[0].repeat(3, 0)
    with neuronkit.load(int8_artifact) as rt, neuronkit.load(neuronkit.compile(mlp())) as fp32:
        assert accuracy.compare([rt(x)], [fp32(x)])["rel_error"] < 0.1
    out = CliRunner().invoke(cli, ["inspect", str(int8_artifact.save(tmp_path / "int8.nk"))])
    assert "vs fp32 on 8 held-out samples: relative error" in out.output


def test_int8_settings_follow_the_cpu():
    plain = int8_settings(frozenset({"avx2"}), "x86_64")
    vnni = int8_settings(frozenset({"avx2", "avx512_vnni"}), "x86_64")
    arm = int8_settings(frozenset({"asimd"}), "aarch64")
    assert (plain["activation_type"].name, plain["reduce_range"]) == ("QUInt8", True)  # U8S8 + reduce_range
    assert (vnni["activation_type"].name, vnni["reduce_range"]) == ("QUInt8", False)   # U8S8: VPDPBUSD
    assert int8_settings(frozenset({"amx_int8"}), "x86_64")["reduce_range"] is False
    assert (arm["activation_type"].name, arm["reduce_range"]) == ("QInt8", False)      # S8S8


@pytest.mark.parametrize("data, message", [
    ([np.zeros((1, 5), np.float32)], r"sample 0: input x has shape \(1, 5\); the model takes x: float32\[N, 4\]"),
    ([np.zeros((1, 4))], r"input x is float64, the model takes x: float32\[N, 4\] \(x.astype\('float32'\)\)"),
    ([{"y": np.zeros((1, 4), np.float32)}], "sample 0 has no x"),
    ([], "calibration= holds no samples"),
    (42, "calibration= takes an iterable"),
])
def test_bad_calibration_data_names_the_signature(data, message):
    with pytest.raises(CompileError, match=message):
        neuronkit.compile(mlp(), precision="int8", calibration=data, calibration_size=4)


def test_calibration_from_images_needs_preprocess(tmp_path):
    with pytest.raises(CompileError, match="needs preprocess="):
        neuronkit.compile(mlp(), precision="int8", calibration=tmp_path)


def test_calibration_also_measures_an_fp32_compile_and_a_generator_is_read_once():
    art = neuronkit.compile(mlp(), calibration=(x for x in calibration(10)), calibration_size=10, verify=True)
    assert art.manifest.report.accuracy["samples"] == 2 and art.manifest.report.accuracy["rel_error"] < 1e-6


def test_verify_passes_for_int8_against_the_model_and_fails_against_a_wrong_one(int8_artifact, tmp_path):
    result = neuronkit.verify(int8_artifact, mlp(), samples=16)
    assert result.ok and result.precision == "int8" and result.samples == 16
    assert result.tolerances == {"rel_error": accuracy.TOLERANCES["int8"].rel_error,
                                 "top1_agreement": accuracy.TOLERANCES["int8"].top1_agreement}
    wrong = neuronkit.compile(mlp(seed=1)).save(tmp_path / "wrong.nk")
    result = neuronkit.verify(int8_artifact, wrong)
    assert not result.ok and result.failures[0].startswith("relative error")
    fp32 = neuronkit.compile(mlp()).save(tmp_path / "fp32.nk")
    assert neuronkit.verify(fp32, fp32).measures["rel_error"] == 0


def test_verify_command_exits_1_out_of_tolerance(int8_artifact, tmp_path):
    art = int8_artifact.save(tmp_path / "int8.nk")
    right = neuronkit.compile(mlp()).save(tmp_path / "right.nk")
    wrong = neuronkit.compile(mlp(seed=1)).save(tmp_path / "wrong.nk")
    ok = CliRunner().invoke(cli, ["verify", str(art), "--reference", str(right)])
    assert ok.exit_code == 0 and ok.output.startswith("OK int8 artifact vs its reference on 8 samples")
    bad = CliRunner().invoke(cli, ["verify", str(art), "--reference", str(wrong), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["ok"] is False
    np.savez(tmp_path / "data.npz", x=calibration(1, seed=3)[0].repeat(5, 0))
    data = str(tmp_path / "data.npz")
    tight = CliRunner().invoke(cli, ["verify", str(art), "--reference", str(right), "--data", data, "--atol", "0"])
    assert tight.exit_code == 1 and "on 5 samples" in tight.output and "max abs error" in tight.output


def test_verify_names_the_input_that_differs(int8_artifact):
    with pytest.raises(InputError, match=r"input x: float32\[N, 4\] of the artifact differs from the reference's "
                                         r"x: float32\[N, 5\]"):
        neuronkit.verify(int8_artifact, neuronkit.compile(mlp(in_dim=5)))


def test_compile_verify_raises_beyond_the_tolerance(monkeypatch):
    monkeypatch.setitem(accuracy.TOLERANCES, "int8", accuracy.Tolerance(rel_error=1e-9, top1_agreement=1.0))
    with pytest.raises(VerificationFailed, match="int8 artifact vs its reference on 8 samples.*OUT OF TOLERANCE"):
        neuronkit.compile(mlp(), precision="int8", calibration=calibration(), calibration_size=40, verify=True)


def test_classifier_measures():
    want = np.array([[5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]], np.float32)
    got = np.array([[5, 4, 3, 2, 0, 1], [5, 1, 2, 3, 4, 0]], np.float32)
    measured = accuracy.compare([got], [want])
    assert measured["top1_agreement"] == 0.5 and measured["top5_overlap"] == pytest.approx(4 / 5)
    assert measured["max_abs_error"] == 5
    assert accuracy.failures(measured, "bf16") == ["relative error 6.88e-01 > 8.00e-02", "top-1 agreement 50.0% < 90%"]


def test_compile_command_takes_calibration_rows_and_verifies(tmp_path, onnx_model):
    import onnx

    model = tmp_path / "mlp.onnx"
    onnx.save(onnx_model, model)
    np.save(tmp_path / "cal.npy", np.concatenate(calibration(20)))
    out = CliRunner().invoke(cli, ["compile", str(model), "-o", str(tmp_path / "q.nk"), "-p", "int8", "--calibration",
                                   str(tmp_path / "cal.npy"), "--calibration-size", "20", "--verify"])
    assert out.exit_code == 0, out.output
    assert "vs fp32 on 4 held-out samples" in out.output
    assert neuronkit.open_artifact(tmp_path / "q.nk").manifest.precision == "int8"
    missing = CliRunner().invoke(cli, ["compile", str(model), "-o", str(tmp_path / "x.nk"), "-p", "int8"])
    assert missing.exit_code == 1 and "needs calibration=" in missing.output


def test_verify_feeds_a_fixed_batch_artifact_its_batch_at_a_time():
    fixed = neuronkit.compile(mlp(), dynamic_batch=False, batch_size=4)
    assert fixed.manifest.batch_size == 4 and not fixed.manifest.dynamic_batch
    result = neuronkit.verify(fixed, mlp(), samples=10)  # 10 rows: three calls of 4, the last filled
    assert result.ok and result.samples == 10 and result.measures["rel_error"] < 1e-6
