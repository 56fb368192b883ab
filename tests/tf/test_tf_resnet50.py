"""The seed workflow with Keras ResNet50: compile -> one file -> fresh process, 2 replicas -> cat.png.

Random (seeded) weights: no download is possible here, so the labels are meaningless; the test
checks that the saved artifact, loaded in a new process without the Keras model code, gives the
same logits as Keras itself and that the top-5 output is well formed.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuronkit
from neuronkit.images import load_image
from neuronkit.testing import relative_error

tf = pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

ROOT = Path(__file__).resolve().parents[2]
CAT = ROOT / "examples" / "data" / "cat.png"

SCRIPT = """
import json, sys
import neuronkit
from neuronkit.images import imagenet_labels, load_image, top_k
with neuronkit.load(sys.argv[1], cores=2, group_size=1) as rt:
    m = rt.artifact.manifest
    x = load_image(sys.argv[2], rt.inputs[0], m.preprocess)
    logits = rt(x)
try:
    labels = imagenet_labels()
except OSError:  # the core's label file is missing: indices instead
    labels = None
print(json.dumps({"replicas": len(rt.replicas), "engine": m.engine, "logits": logits[0].tolist(),
                  "top5": top_k(logits[0], 5, labels),
                  "frameworks": sorted(k for k in ("tensorflow", "keras", "torch") if k in sys.modules)}))
"""


@pytest.mark.slow
def test_resnet50_through_a_saved_artifact_in_a_fresh_process(resnet50):
    model, preprocess, path = resnet50
    art = neuronkit.open_artifact(path)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(CAT)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and out["engine"] == "openvino" and out["frameworks"] == []
    x = load_image(CAT, art.inputs[0], preprocess)
    assert x.shape == (1, 224, 224, 3)
    want = model(x, training=False).numpy()[0]
    assert relative_error(np.array(out["logits"]), want) < 1e-4
    top5 = out["top5"]
    assert len(top5) == 5 and top5[0][0] == int(np.argmax(want))
    assert all(isinstance(label, str) and label for _, label, _ in top5)
