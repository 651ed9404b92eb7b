"""The notebook's features are the original method's, from each file's bytes to the written parquet.

The original method (the OpenClassrooms "Fruits" notebook on EMR) featurizes each image with
Pillow, Keras' img_to_array and preprocess_input, and Keras MobileNetV2 cut at layers[-2]. Its
steps are written out below as plainly as it does them; the notebook (ONNX Runtime on the
workers), with its default parameters, must give the same features on photo-like 100x100 JPEGs,
on large photos and on JPEGs whose EXIF orientation tag says to turn them (the original ignores
it). Two negative controls show that the comparison tells apart what it must: bilinear resizing
(the notebook's earlier bug) and photos turned upright both fall below the threshold.
"""

import io

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from support.helpers import explained_variance_by_numpy, read_output, run_notebook
from sample_images import FRUITS, fruit_image

pytestmark = pytest.mark.slow

MOSAIC_SIZES = [(2000, 1500), (1024, 768), (640, 480)]
EXIF_ORIENTATIONS = (3, 6, 8)  # turned 180 degrees, 90 clockwise, 90 counter-clockwise: what cameras write
VARIANCE_FRACTION = 0.95  # pca_k of the run: the smallest k keeping 95% of the variance


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


THRESHOLD = 0.9999  # the cosine similarity each image's features must reach


def original_preparation(image):
    """The original method's resize: Pillow's default filter, the pixels as stored (EXIF ignored)."""
    return image.resize([224, 224])


def bilinear_preparation(image):
    """The notebook's earlier choice, bilinear resizing: the bug this test must catch."""
    return image.resize([224, 224], Image.Resampling.BILINEAR)


def upright_preparation(image):
    """The original's resize of the image turned upright by its EXIF orientation (apply_exif_orientation)."""
    return ImageOps.exif_transpose(image).resize([224, 224])


@pytest.fixture(scope="module")
def original_model(ci_inputs):
    """The original method's feature model: Keras MobileNetV2 cut at layers[-2], with the test's weights."""
    import keras

    model = keras.applications.MobileNetV2(weights=None, include_top=True)
    model.load_weights(ci_inputs[1])
    return keras.Model(inputs=model.input, outputs=model.layers[-2].output)


def original_features(feature_model, contents, prepare=original_preparation):
    """The original method's features of each file's bytes, step by step as it does them."""
    from keras.applications.mobilenet_v2 import preprocess_input
    from keras.preprocessing.image import img_to_array

    arrays = [preprocess_input(img_to_array(prepare(Image.open(io.BytesIO(content))))) for content in contents]
    return feature_model.predict(np.stack(arrays), verbose=0)


def cosine_similarity(expected, actual):
    """Cosine similarity of each row of `expected` with the same row of `actual`."""
    return (expected * actual).sum(axis=1) / (np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1))


@pytest.fixture(scope="module")
def photos_run(ci_inputs, tmp_path_factory):
    """Photo-like 100x100 JPEGs, large mosaics of them and JPEGs with an EXIF orientation tag, run through
    the notebook with its default preprocessing. The same run checks two report parameters that change
    no feature (a run spared): pca_k as a variance fraction, and the linear probe turned off.
    Gives (output folder, finished papermill process)."""
    base = tmp_path_factory.mktemp("fidelity")
    images = base / "images"
    rng = np.random.default_rng(13)
    tiles = [photo_like_image(rng) for _ in range(12)]
    for folder in ("Small", "Large", "Rotated"):
        (images / folder).mkdir(parents=True)
    for index, tile in enumerate(tiles):
        tile.save(images / "Small" / f"r_{index}_100.jpg", quality=95)
    for width, height in MOSAIC_SIZES:
        mosaic(tiles, (width, height)).save(images / "Large" / f"{width}x{height}.jpg", quality=90)
    for orientation in EXIF_ORIENTATIONS:  # photos of their own, so that every image's features differ
        tile, exif = photo_like_image(rng), Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        tile.save(images / "Rotated" / f"orientation_{orientation}.jpg", quality=95, exif=exif)
    output = base / "output"
    process = run_notebook(base / "executed.ipynb", "input_path", images, "output_path", output,
                           "pca_k", VARIANCE_FRACTION, "probe_test_fraction", 0)
    return output, process


@pytest.fixture(scope="module")
def photos(photos_run):
    """(paths, contents, features) of every image of the photos' run."""
    _, features = read_output(photos_run[0])
    paths = [path[len("file:"):] for path in features["path"]]
    return paths, [open(path, "rb").read() for path in paths], np.stack(features["features"])


def test_every_image_is_compared(photos):
    paths, _, _ = photos
    assert len(paths) == 12 + len(MOSAIC_SIZES) + len(EXIF_ORIENTATIONS)


def test_features_equal_the_original_methods_from_the_file_bytes(photos, original_model):
    paths, contents, actual = photos
    expected = original_features(original_model, contents)
    cosine = cosine_similarity(expected, actual)
    worst = paths[int(cosine.argmin())]
    assert cosine.min() >= THRESHOLD, f"cosine similarity {cosine.min():.6f} for {worst}"
    assert np.abs(expected - actual).max() < 1e-3 * np.abs(expected).max()


def test_negative_control_bilinear_resizing_falls_below_the_threshold_on_every_image(photos, original_model):
    """Else the comparison above could not tell the original's preprocessing from the earlier bug."""
    paths, contents, actual = photos
    cosine = cosine_similarity(original_features(original_model, contents, bilinear_preparation), actual)
    passing = [path for path, value in zip(paths, cosine) if value >= THRESHOLD]
    assert passing == [], f"bilinear resizing reaches {THRESHOLD} on these images"


def test_negative_control_photos_turned_upright_fall_below_the_threshold(photos, original_model):
    """Else the comparison above could not tell the original's reading of a rotated photo from ours."""
    paths, contents, actual = photos
    rotated = [index for index, path in enumerate(paths) if "/Rotated/" in path]
    cosine = cosine_similarity(original_features(original_model, [contents[i] for i in rotated],
                                                 upright_preparation), actual[rotated])
    assert cosine.max() < THRESHOLD, f"turning upright changes nothing: cosine {cosine.max():.6f}"


def test_photo_like_images_give_features_that_differ(photos):
    """Else equal features would prove nothing: the fixture weights must see the images."""
    _, _, features = photos
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    assert similarity[~np.eye(len(unit), dtype=bool)].max() < 0.995


# --- the same run's report: pca_k as a variance fraction, the linear probe off ------------------------

def test_variance_fraction_picks_the_smallest_k_reaching_it(photos_run):
    manifest, features = read_output(photos_run[0])
    cumulative = np.cumsum(explained_variance_by_numpy(features))
    k = manifest["pca"]["k"]
    assert cumulative[k - 1] >= VARIANCE_FRACTION > (cumulative[k - 2] if k > 1 else 0)
    assert all(len(scores) == k for scores in features["pca"])


def test_probe_test_fraction_0_turns_the_linear_probe_off_and_the_report_shows_the_variance(photos_run):
    output, process = photos_run
    probe = read_output(output)[0]["probe"]
    assert probe["status"] == "off: probe_test_fraction = 0"
    assert probe["images"] == {"training": 0, "held out": 0, "unused": 0} and "ladder" not in probe
    assert "linear probe off: probe_test_fraction = 0" in process.stderr  # papermill --log-output
    assert (output / "report" / "probe_accuracy.png").is_file()
