"""Write an image as the input batch an artifact expects (its recorded preprocessing), as .npy.

    python examples/serving/preprocess.py resnet50.nk examples/data/cat.png cat.npy
"""

import sys

import numpy as np

import neuronkit
from neuronkit.images import load_image

artifact, image, out = sys.argv[1:4]
art = neuronkit.open_artifact(artifact)
np.save(out, load_image(image, art.inputs[0], art.manifest.preprocess))
print(f"wrote {out}")
