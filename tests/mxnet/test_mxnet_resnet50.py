"""The ResNet50 workflow with framework="mxnet", end to end (slow: a real Gluon ResNet50 v1)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import neuronkit
from neuronkit.images import imagenet_labels, load_image, top_k
from neuronkit.testing import relative_error

mx = pytest.importorskip("mxnet")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))
from zoo.mxnet import resnet50  # noqa: E402

pytestmark = pytest.mark.slow


def test_example_classifies_the_cat_in_a_fresh_process_like_imperative_gluon(tmp_path):
    out = tmp_path / "resnet50.nk"
    done = subprocess.run([sys.executable, str(REPO / "examples" / "resnet50.py"), "--framework", "mxnet",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "on 2 replica(s), core groups [0, 1]" in done.stdout and "random weights" in done.stdout
    printed = re.findall(r"^\s+([0-9.]+)\s+(.+) \((\d+)\)$", done.stdout, re.M)
    assert len(printed) == 5

    art = neuronkit.open_artifact(out)
    m = art.manifest
    assert m.framework.name == "mxnet" and m.engine == "onnxruntime" and m.preprocess.labels == "imagenet"
    assert m.preprocess.layout == "NCHW" and [t.shape for t in m.inputs] == [(None, 3, 224, 224)]
    model, _ = resnet50()  # the same seeded weights
    x = load_image(REPO / "examples" / "data" / "cat.png", art.inputs[0], m.preprocess)
    want = model(mx.nd.array(x))[0].asnumpy()
    with neuronkit.load(art) as rt:
        assert relative_error(rt(x)[0], want) < 1e-4  # compiled vs imperative, fp32
    # random weights give nearly equal logits: the printed classes must be among the reference's best
    expected = top_k(want, 8, imagenet_labels())
    assert {int(i) for _, _, i in printed} <= {i for i, _, _ in expected}
    assert int(printed[0][2]) in {i for i, _, _ in expected[:2]}
    assert [float(p) for p, _, _ in printed] == pytest.approx([p for _, _, p in expected[:5]], abs=2e-3)
