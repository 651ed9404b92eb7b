"""Write a MobileNetV2 weights file for tests and offline trials: no download, input-dependent features.

A randomly initialised MobileNetV2 maps every image to nearly the same 1280-d vector (its batch
normalisation statistics do not match the activations), which would make any PCA test meaningless.
Here the batch-normalisation statistics are calibrated on a batch of sample fruit images, so the
features vary with the input. These are not ImageNet weights: the features carry no semantics.

    python tools/fixture_weights.py build/fixture.weights.h5
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_images import make_sample  # noqa: E402


def calibration_batch(count_per_class=4):
    """Sample fruit images, preprocessed as the notebook does (224x224 RGB scaled to [-1, 1])."""
    with tempfile.TemporaryDirectory() as folder:
        paths = make_sample(folder, per_class=count_per_class, seed=12345)
        images = [np.asarray(Image.open(p).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)) for p in paths]
    return keras.applications.mobilenet_v2.preprocess_input(np.stack(images).astype(np.float32))


def make_fixture_weights(path, seed=0):
    """Save calibrated MobileNetV2 (with top) weights to `path` (must end in .weights.h5)."""
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in batch_norms:
        layer.momentum = 0.0  # one training-mode pass sets the moving statistics to the batch's
    model(calibration_batch(), training=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="weights file to write, ending in .weights.h5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_fixture_weights(args.path, args.seed)
    print(f"wrote calibrated (non-ImageNet) MobileNetV2 weights to {args.path}")


if __name__ == "__main__":
    main()
