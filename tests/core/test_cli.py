import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import mlp

import neuronkit
from neuronkit.cli import cli
from neuronkit.images import load_image

CAT = Path(__file__).resolve().parents[2] / "examples" / "data" / "cat.png"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def mean_colour_model():
    """[N, 3, 32, 32] image -> [N, 3] mean of each channel."""
    from onnx import TensorProto, helper

    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["colour"], keepdims=0)], "mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("colour", TensorProto.FLOAT, ["N", 3])], [axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


@pytest.fixture
def onnx_file(tmp_path):
    import onnx

    path = tmp_path / "mlp.onnx"
    onnx.save(mlp(), path)
    return path


def test_plugins_backends_devices_work_with_only_the_core(fake_neuron_host):
    out = run("plugins", "--json")
    assert out.exit_code == 0
    rows = {r["name"]: r for r in json.loads(out.output)}
    assert rows["onnx"]["distribution"] == "neuronkit" and not rows["onnx"]["error"]
    backends = {b["name"]: b for b in json.loads(run("backends", "--json").output)}
    assert backends["onnx"]["ready"] is True and backends["onnx"]["engines"] == ["onnxruntime"]
    fake_neuron_host(4, 4, "NCv1")
    devices = json.loads(run("devices", "--json").output)
    assert devices["neuron_cores"] == 16 and devices["runnable_targets"]["inf1"] == 16
    assert "inf2" not in devices["runnable_targets"]
    table = run("devices").output
    assert "neuron3" in table and "NeuronCore-v1" in table


def test_compile_inspect_predict_npy(onnx_file, tmp_path):
    out = run("compile", onnx_file, "-o", tmp_path / "mlp.nk")
    assert out.exit_code == 0, out.output
    assert "saved" in out.output and "onnxruntime" in out.output
    inspected = json.loads(run("inspect", tmp_path / "mlp.nk", "--json").output)
    assert inspected["signature"]["inputs"][0]["shape"] == [None, 4]
    x = np.ones((2, 4), np.float32)
    np.save(tmp_path / "x.npy", x)
    out = run("predict", tmp_path / "mlp.nk", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert out.exit_code == 0, out.output
    with neuronkit.load(tmp_path / "mlp.nk") as rt:
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), rt(x))


def test_predict_preprocesses_an_image_as_the_manifest_says(tmp_path):
    art = neuronkit.compile(mean_colour_model(), "onnx", preprocess=neuronkit.Preprocess())
    path = art.save(tmp_path / "mean.nk")
    out = run("predict", path, CAT, "-o", tmp_path / "colour.npy")
    assert out.exit_code == 0, out.output
    image = load_image(CAT, art.inputs[0], art.manifest.preprocess)
    assert image.shape == (1, 3, 32, 32) and image.dtype == np.float32
    np.testing.assert_allclose(np.load(tmp_path / "colour.npy"), image.mean(axis=(2, 3)), rtol=1e-5)
    # A tabby cat photo is brownish: red above blue once ImageNet normalisation is undone.
    red, _, blue = np.load(tmp_path / "colour.npy")[0] * np.array([0.229, 0.224, 0.225]) + [0.485, 0.456, 0.406]
    assert red > blue


def test_errors_are_one_line_without_a_traceback(tmp_path, onnx_file):
    bad = tmp_path / "bad.nk"
    bad.write_text("not an artifact")
    out = run("inspect", bad)
    assert out.exit_code == 1 and out.output.startswith("Error:") and "Traceback" not in out.output
    out = run("compile", onnx_file, "-o", tmp_path / "x.nk", "--precision", "bf16")
    assert out.exit_code == 1 and "supports precision fp32" in out.output
    np.save(tmp_path / "wrong.npy", np.ones((2, 5), np.float32))
    neuronkit.compile(mlp()).save(tmp_path / "mlp.nk")
    out = run("predict", tmp_path / "mlp.nk", tmp_path / "wrong.npy")
    assert out.exit_code == 1 and "expected x: float32[N, 4]" in out.output
    out = run("predict", tmp_path / "mlp.nk", CAT)
    assert out.exit_code == 1 and "not an image batch" in out.output
