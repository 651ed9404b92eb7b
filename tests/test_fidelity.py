"""The notebook's features are the original method's, from each file's bytes to the written parquet.

The original method (the OpenClassrooms "Fruits" notebook on EMR) featurizes each image with
Pillow, Keras' img_to_array and preprocess_input, and Keras MobileNetV2 cut at layers[-2]. Its
steps are written out below as plainly as it does them; the notebook (ONNX Runtime on the
workers) must give the same features on photo-like 100x100 JPEGs and on large photos.
"""

import io

import numpy as np
import pytest
from PIL import Image

from support.helpers import read_output, run_notebook
from sample_images import FRUITS, fruit_image

pytestmark = pytest.mark.slow

MOSAIC_SIZES = [(2000, 1500), (1024, 768), (640, 480)]


def photo_like_image(rng, size=100):
    """A fruit on a textured background: detail at every scale, as in a photo (1/f noise)."""
    fruit = np.asarray(fruit_image(*FRUITS["Kiwi"], rng), np.float32)
    texture = np.zeros((size, size, 3), np.float32)
    for cells, strength in ((50, 6), (25, 10), (12, 14), (6, 18), (3, 22)):  # fine to coarse detail
        noise = rng.normal(128, strength, (cells, cells, 3)).clip(0, 255).astype(np.uint8)
        texture += np.asarray(Image.fromarray(noise).resize((size, size), Image.Resampling.BICUBIC), np.float32) - 128
    background = (fruit.min(axis=-1, keepdims=True) > 230)  # white around the fruit
    pixels = fruit + texture * np.where(background, 1.0, 0.4)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def mosaic(tiles, size):
    """A large photo made of 100x100 tiles."""
    image = Image.new("RGB", size)
    positions = [(x, y) for y in range(0, size[1], 100) for x in range(0, size[0], 100)]
    for index, position in enumerate(positions):
        image.paste(tiles[index % len(tiles)], position)
    return image


def original_features(contents, weights):
    """The original method's features of each file's bytes, step by step as it does them."""
    import keras
    from keras.applications.mobilenet_v2 import preprocess_input
    from keras.preprocessing.image import img_to_array

    model = keras.applications.MobileNetV2(weights=None, include_top=True)
    model.load_weights(weights)
    feature_model = keras.Model(inputs=model.input, outputs=model.layers[-2].output)
    arrays = [preprocess_input(img_to_array(Image.open(io.BytesIO(content)).resize([224, 224])))
              for content in contents]
    return feature_model.predict(np.stack(arrays), verbose=0)


@pytest.fixture(scope="module")
def photos(ci_inputs, tmp_path_factory):
    """Photo-like 100x100 JPEGs and large mosaics of them, run through the notebook."""
    base = tmp_path_factory.mktemp("fidelity")
    rng = np.random.default_rng(13)
    tiles = [photo_like_image(rng) for _ in range(12)]
    (base / "images" / "Small").mkdir(parents=True)
    (base / "images" / "Large").mkdir()
    for index, tile in enumerate(tiles):
        tile.save(base / "images" / "Small" / f"r_{index}_100.jpg", quality=95)
    for width, height in MOSAIC_SIZES:
        mosaic(tiles, (width, height)).save(base / "images" / "Large" / f"{width}x{height}.jpg", quality=90)
    output = base / "output"
    run_notebook(base / "executed.ipynb", "input_path", base / "images", "output_path", output, "pca_k", 2)
    return base / "images", output


def test_features_equal_the_original_methods_from_the_file_bytes(photos, ci_inputs):
    images, output = photos
    _, weights = ci_inputs
    _, features = read_output(output)
    paths = [path[len("file:"):] for path in features["path"]]
    assert len(paths) == 12 + len(MOSAIC_SIZES)
    expected = original_features([open(path, "rb").read() for path in paths], weights)
    actual = np.stack(features["features"])
    cosine = (expected * actual).sum(axis=1) / (np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1))
    worst = paths[int(cosine.argmin())]
    assert cosine.min() >= 0.9999, f"cosine similarity {cosine.min():.6f} for {worst}"
    assert np.abs(expected - actual).max() < 1e-3 * np.abs(expected).max()


def test_photo_like_images_give_features_that_differ(photos):
    """Else equal features would prove nothing: the fixture weights must see the images."""
    _, features = read_output(photos[1])
    unit = np.stack(features["features"])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    similarity = unit @ unit.T
    assert similarity[~np.eye(len(unit), dtype=bool)].max() < 0.995
