"""The TensorFlow Serving layout written by neuronkit_tf.serving and `neuronkit export`."""

import subprocess
import sys

import numpy as np
import pytest
from neuronkit_tf.serving import export_tf_serving
from tf_helpers import images

import neuronkit
from neuronkit import NeuronkitError

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from tf_helpers import conv_model

    model = conv_model()
    path = neuronkit.compile(model, "tf", example_inputs=images(2), engine="savedmodel").save(
        tmp_path_factory.mktemp("art") / "conv.nk")
    return model, path


def test_versions_load_with_tf_saved_model_load(saved, tmp_path):
    model, path = saved
    base = tmp_path / "conv"
    first = export_tf_serving(path, base)
    assert first == base / "1" and (first / "saved_model.pb").is_file() and (first / "variables").is_dir()
    assert export_tf_serving(path, base) == base / "2"   # the next free version
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]  # nothing half-written left behind
    x = images(3)
    sig = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
    served = sig(image=tf.constant(x))["output_0"].numpy()
    with neuronkit.load(path) as rt:
        np.testing.assert_allclose(served, rt(x), rtol=1e-6)
    np.testing.assert_allclose(served, model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_existing_version_is_never_overwritten(saved, tmp_path):
    _, path = saved
    export_tf_serving(path, tmp_path, version=3)
    with pytest.raises(NeuronkitError, match="already exists"):
        export_tf_serving(path, tmp_path, version=3)


def test_openvino_artifact_is_refused(tmp_path):
    pytest.importorskip("openvino")
    from tf_helpers import conv_model

    art = neuronkit.compile(conv_model(), "tf", example_inputs=images(1), engine="openvino")
    with pytest.raises(NeuronkitError, match="engine='savedmodel'"):
        export_tf_serving(art, tmp_path / "base")
    assert not (tmp_path / "base").exists() or not any((tmp_path / "base").iterdir())


def test_cli_export(saved, tmp_path):
    _, path = saved
    done = subprocess.run([sys.executable, "-m", "neuronkit.cli", "export", str(path), "--tf-serving",
                           str(tmp_path / "srv"), "--version", "7"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "srv" / "7" / "saved_model.pb").is_file()
    assert f"tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=srv " \
           f"--model_base_path={tmp_path / 'srv'}" in done.stdout
    again = subprocess.run([sys.executable, "-m", "neuronkit.cli", "export", str(path), "--tf-serving",
                            str(tmp_path / "srv"), "--version", "7"], capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_inf1_artifact_names_the_neuron_server(tfn_sim, tmp_path):
    from neuronkit_tf.serving import server_command
    from tf_helpers import conv_model

    art = neuronkit.compile(conv_model(), "tf", example_inputs=images(1), target="inf1")
    out = export_tf_serving(art, tmp_path / "resnet50_neuron")
    assert (out / "saved_model.pb").is_file()
    assert server_command(art, tmp_path / "resnet50_neuron").startswith("tensorflow_model_server_neuron ")
