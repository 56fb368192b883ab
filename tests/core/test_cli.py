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


def test_backends_show_the_ways_to_each_neuron_target_and_what_its_hardware_runs():
    torch = {b["name"]: b for b in json.loads(run("backends", "--json").output)}["torch"]
    assert torch["neuron_engines"] == {"trn2": ["trace", "native"], "trn3": ["native"]}
    assert torch["precisions"]["trn2"] == ["fp32", "bf16", "fp16", "fp8"]  # fp8: trn2's hardware, trace's flags
    assert torch["precisions"]["trn3"] == ["fp32", "bf16", "fp16"]  # native only there: fp8 unconfirmed
    assert torch["precisions"]["inf2"] == ["fp32", "bf16", "fp16"]
    assert {"package": "torch-neuronx", "status": "maintenance", "as_of": "Neuron 2.33.1"} in torch["support"]["trn3"]
    table = run("backends").output
    assert "trace" in table and "native" in table


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


def test_compile_an_unrecognised_file_names_the_types_each_backend_compiles(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# hello")
    out = run("compile", readme, "-o", tmp_path / "x.nk")
    assert out.exit_code == 1 and "builtins.str" not in out.output
    assert "no backend recognises the file type of" in out.output and "onnx: ONNX files (.onnx)" in out.output


def test_compile_with_the_wrong_framework_points_to_the_right_one(onnx_file, tmp_path, numpy_backend):
    out = run("compile", onnx_file, "-o", tmp_path / "x.nk", "-f", numpy_backend)
    assert out.exit_code == 1
    assert "looks like a model for the onnx backend: compile it with framework='onnx' (-f onnx)" in out.output


def test_compile_takes_example_inputs_from_shapes_or_files(onnx_file, tmp_path):
    out = run("compile", onnx_file, "-o", tmp_path / "a.nk", "--static-batch", "--input-shape", "x:3x4")
    assert out.exit_code == 0, out.output
    assert neuronkit.open_artifact(tmp_path / "a.nk").inputs[0].shape == (3, 4)  # the example's batch
    np.savez(tmp_path / "ex.npz", x=np.ones((5, 4), np.float32))
    out = run("compile", onnx_file, "-o", tmp_path / "b.nk", "--static-batch", "--example-inputs", tmp_path / "ex.npz")
    assert out.exit_code == 0, out.output
    assert neuronkit.open_artifact(tmp_path / "b.nk").inputs[0].shape == (5, 4)
    out = run("compile", onnx_file, "-o", tmp_path / "c.nk", "--input-shape", "x:3xfour")
    assert out.exit_code == 2 and "[NAME:]DIMS[:DTYPE]" in out.output


def test_compile_says_which_option_gives_example_inputs(onnx_file, tmp_path, numpy_backend, monkeypatch):
    from conftest import NumpyCompiler

    from neuronkit import CompileError

    def needs_examples(self, model, request):
        raise CompileError("the numpy-test backend needs example_inputs= (arrays shaped like real inputs)")

    monkeypatch.setattr(NumpyCompiler, "compile", needs_examples)
    out = run("compile", onnx_file, "-o", tmp_path / "x.nk", "-f", numpy_backend)
    assert out.exit_code == 1 and "--input-shape 1x3x224x224" in out.output and "--example-inputs" in out.output


def test_predict_batches_several_images_and_labels_each(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    from PIL import Image

    # [N, 3, 32, 32] -> channel means -> [N, 1000] logits: class 0 rises with red, class 2 with blue.
    weights = np.zeros((3, 1000), np.float32)
    weights[0, 0] = weights[2, 2] = 10
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["colour"], keepdims=0),
         helper.make_node("MatMul", ["colour", "W"], ["logits"])], "classify",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
        [axes, numpy_helper.from_array(weights, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    art = neuronkit.compile(model, "onnx", preprocess=neuronkit.Preprocess(labels="imagenet"))
    path = art.save(tmp_path / "colours.nk")
    Image.new("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "red.png")
    Image.new("RGB", (30, 40), (0, 0, 255)).save(tmp_path / "blue.png")
    out = run("predict", path, tmp_path / "red.png", tmp_path / "blue.png", "-o", tmp_path / "y.npy")
    assert out.exit_code == 0, out.output
    logits = np.load(tmp_path / "y.npy")
    assert logits.shape == (2, 1000) and logits[0].argmax() == 0 and logits[1].argmax() == 2
    red_table, blue_table = out.output.split("blue.png")
    assert "red.png" in red_table and "tench" in red_table and "great white shark" in blue_table
