"""The README's main job, end to end, and ResNet50 accuracy across precisions (slow: a real ResNet50)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuronkit
from neuronkit.images import imagenet_labels, load_image, top_k
from neuronkit.testing import relative_error

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))
from zoo.torch import resnet50  # noqa: E402

pytestmark = pytest.mark.slow


def test_example_classifies_the_cat_in_a_fresh_process_like_eager_torch(tmp_path):
    out = tmp_path / "resnet50.nk"
    done = subprocess.run([sys.executable, str(REPO / "examples" / "resnet50.py"), "--framework", "torch",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "on 2 replica(s), core groups [0, 1]" in done.stdout and "random weights" in done.stdout
    printed = re.findall(r"^\s+([0-9.]+)\s+(.+) \((\d+)\)$", done.stdout, re.M)
    assert len(printed) == 5

    model, preprocess = resnet50()
    art = neuronkit.open_artifact(out)
    x = load_image(REPO / "examples" / "data" / "cat.png", art.inputs[0], art.manifest.preprocess)
    with torch.no_grad():
        expected = top_k(model(torch.from_numpy(x))[0].numpy(), 5, imagenet_labels())
    assert [int(i) for _, _, i in printed] == [i for i, _, _ in expected]
    assert [float(p) for p, _, _ in printed] == pytest.approx([p for _, _, p in expected], abs=2e-3)


def test_bf16_agrees_with_fp32_eager_on_32_images():
    model, _ = resnet50()
    rng = np.random.default_rng(5)
    batch = rng.standard_normal((32, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        want = np.concatenate([model(torch.from_numpy(batch[i:i + 8])).numpy() for i in range(0, 32, 8)])
    art = neuronkit.compile(model, "torch", example_inputs=batch[:8], precision="bf16")
    with neuronkit.load(art) as rt:
        got = rt(batch)
    assert relative_error(got, want) < 2e-2
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.97


@pytest.mark.parametrize("engine", ["trace", "native"])
def test_example_runs_for_trn2_against_the_simulation_and_says_so(tmp_path, engine):
    out = tmp_path / "resnet50-trn2.nk"
    done = subprocess.run([sys.executable, str(REPO / "examples" / "resnet50.py"), "--target", "trn2", "--engine",
                           engine, "--simulate", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("SIMULATED Neuron SDK and trn2 machine") == 2  # the compile, and the fresh process
    assert f"-> trn2 (neuronx-cc (torch-neuronx{', native TorchNeuron' if engine == 'native' else ''}), {engine}, " \
           f"fp32)" in done.stdout
    art = neuronkit.open_artifact(out)
    assert (art.manifest.engine, art.manifest.logical_cores) == (engine, 2)
    assert any("SIMULATED Neuron SDK" in note for note in art.manifest.report.notes)
    model, _ = resnet50()
    x = load_image(REPO / "examples" / "data" / "cat.png", art.inputs[0], art.manifest.preprocess)
    with torch.no_grad():
        expected = top_k(model(torch.from_numpy(x))[0].numpy(), 5, imagenet_labels())
    printed = re.findall(r"^\s+([0-9.]+)\s+(.+) \((\d+)\)$", done.stdout, re.M)
    assert [int(i) for _, _, i in printed] == [i for i, _, _ in expected]  # the host runs the model
