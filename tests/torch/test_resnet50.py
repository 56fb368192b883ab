"""The README's main job, end to end, and ResNet50 accuracy across precisions (slow: a real ResNet50)."""

import os
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


@pytest.mark.parametrize("target, engine, compiler", [
    ("inf1", "", "neuron-cc (torch-neuron)"), ("inf2", "", "neuronx-cc (torch-neuronx)"),
    ("trn1", "", "neuronx-cc (torch-neuronx)"), ("trn2", "trace", "neuronx-cc (torch-neuronx), trace"),
    ("trn2", "native", "neuronx-cc (torch-neuronx, native TorchNeuron), native"),
])
def test_example_runs_each_neuron_target_against_the_simulation_and_says_so(tmp_path, target, engine, compiler):
    out = tmp_path / f"resnet50-{target}.nk"
    done = subprocess.run([sys.executable, str(REPO / "examples" / "resnet50.py"), "--target", target, "--simulate",
                           "--out", str(out)] + (["--engine", engine] if engine else []),
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"SIMULATED Neuron SDK and {target} machine") == 2  # the compile, and the new process
    assert f"-> {target} ({compiler}, fp32)" in done.stdout
    art = neuronkit.open_artifact(out)
    assert (art.manifest.engine, art.manifest.logical_cores) == (engine, 2 if target == "trn2" else 1)
    assert any("SIMULATED Neuron SDK" in note for note in art.manifest.report.notes)
    model, _ = resnet50()
    x = load_image(REPO / "examples" / "data" / "cat.png", art.inputs[0], art.manifest.preprocess)
    with torch.no_grad():
        expected = top_k(model(torch.from_numpy(x))[0].numpy(), 5, imagenet_labels())
    printed = re.findall(r"^\s+([0-9.]+)\s+(.+) \((\d+)\)$", done.stdout, re.M)
    assert [int(i) for _, _, i in printed] == [i for i, _, _ in expected]  # the host runs the model


@pytest.mark.parametrize("engine", ["trace", "native"])
def test_resnet50_on_trn2_at_one_physical_core_per_logical_core(engine, fake_neuron_host):
    """LNC=1: a trn2 chip shows 8 cores; compiler flag and runtime variable agree."""
    from neuronkit.testing.sim import installed

    model, _ = resnet50()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    with installed("torch_neuronx" if engine == "trace" else "torch_neuronx_native") as sim:
        art = neuronkit.compile(model, "torch", example_inputs=x, target="trn2", engine=engine, logical_cores=1)
        with neuronkit.load(art, cores="0-7", group_size=1) as rt:
            assert os.environ["NEURON_LOGICAL_NC_CONFIG"] == "1" and len(rt.groups) == 8
            got = rt(x)
    flags = [c for c in sim.calls if "compiler" in c][-1]["compiler"]
    assert flags["lnc"] == 1 and art.manifest.flags[-2:] == ("--logical-nc-config", "1")
    with torch.no_grad():
        assert relative_error(got, model(torch.from_numpy(x)).numpy()) < 1e-4
