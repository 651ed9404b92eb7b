"""The notebook's own functions, called directly (tools/notebook_code.py runs their definitions from
the notebook's cells): decoding the files, choosing k, reconciling, the error shown when the driver
stops. The functions that need Spark are in test_spark_steps.py, the linear probe's in test_probe.py."""

import numpy as np
import pandas as pd
import pytest

from support.hostile_tree import BAD_FOLDER, ODD_FOLDER


def decoded(notebook, root, path, apply_exif_orientation=False):
    return notebook.decode((root / path).read_bytes(), apply_exif_orientation)


def test_every_readable_image_decodes_to_224_by_224_rgb_bytes(notebook, hostile_tree):
    root, outcomes = hostile_tree
    for path in (path for path, outcome in outcomes.items() if outcome == "featurized"):
        pixels = decoded(notebook, root, path)
        assert (pixels.shape, pixels.dtype) == ((224, 224, 3), np.uint8), path


@pytest.mark.parametrize("name, reason", [("notes.jpg", "not an image"), ("truncated.jpg", "truncated"),
                                          ("bomb.png", "too many pixels"), ("empty.jpg", "not an image")])
def test_an_unreadable_file_is_rejected_with_its_reason(notebook, hostile_tree, name, reason):
    # An empty file never reaches decode in a run (Spark skips it; the listing rejects it as "empty file").
    root, _ = hostile_tree
    with pytest.raises(notebook.RejectedImage) as rejected:
        decoded(notebook, root, f"{BAD_FOLDER}/{name}")
    assert rejected.value.reason == reason and rejected.value.detail


def a_bug_of_ours(image):
    raise TypeError("a bug in the conversion, on purpose")


def test_an_error_in_our_conversion_fails_decode_instead_of_rejecting_the_file(notebook, hostile_tree, monkeypatch):
    root, _ = hostile_tree
    monkeypatch.setattr(notebook, "to_rgb", a_bug_of_ours)
    with pytest.raises(TypeError, match="on purpose"):
        decoded(notebook, root, f"{ODD_FOLDER}/grey.jpg")


def test_an_error_in_our_conversion_fails_the_chunk_instead_of_rejecting_its_images(notebook, hostile_tree,
                                                                                   monkeypatch):
    root, _ = hostile_tree
    monkeypatch.setattr(notebook, "to_rgb", a_bug_of_ours)
    contents = [(root / ODD_FOLDER / name).read_bytes() for name in ("grey.jpg", "cmyk.jpg")]
    with pytest.raises(TypeError, match="on purpose"):
        notebook.featurize_chunk(lambda batch: np.zeros((len(batch), 1280), np.float32), contents, False)


def plain_pillow_pixels(path):
    """What plain Pillow gives: the stored pixels as RGB (alpha, bit depth and EXIF orientation ignored)."""
    from PIL import Image

    with Image.open(path) as plain:
        return np.asarray(plain.convert("RGB").resize((224, 224), Image.Resampling.BICUBIC))


@pytest.mark.parametrize("image, twin, apply_exif_orientation", [
    ("transparent.png", "white.png", False),  # alpha dropped onto white
    ("grey-16-bit.png", "grey-8-bit.png", False),  # 16 bits scaled, not clipped to white
    ("exif-rotated.png", "upright.png", True),  # EXIF orientation honoured when asked
])
def test_unusual_image_decodes_like_its_plain_twin_not_as_plain_pillow_would(notebook, hostile_tree, image, twin,
                                                                            apply_exif_orientation):
    root, _ = hostile_tree
    pixels, twin_pixels = (decoded(notebook, root, f"{ODD_FOLDER}/{name}", apply_exif_orientation).astype(int)
                           for name in (image, twin))
    assert np.abs(pixels - twin_pixels).max() <= 1
    assert np.abs(pixels - plain_pillow_pixels(root / ODD_FOLDER / image).astype(int)).mean() > 10


def test_by_default_an_exif_rotated_image_keeps_its_stored_pixels_as_the_original_method_reads_them(notebook,
                                                                                                   hostile_tree):
    root, _ = hostile_tree
    path = root / ODD_FOLDER / "exif-rotated.png"
    assert np.array_equal(decoded(notebook, root, f"{ODD_FOLDER}/exif-rotated.png"), plain_pillow_pixels(path))


def test_greyscale_cmyk_and_palette_images_become_rgb(notebook, hostile_tree):
    from PIL import Image

    root, _ = hostile_tree
    for name in ("grey.jpg", "cmyk.jpg", "palette.png"):
        with Image.open(root / ODD_FOLDER / name) as image:
            assert notebook.to_rgb(image).mode == "RGB", name
    grey = decoded(notebook, root, f"{ODD_FOLDER}/grey.jpg")
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def test_model_input_scales_pixels_to_minus_one_to_one(notebook):
    batch = notebook.model_input([np.full((224, 224, 3), 0, np.uint8), np.full((224, 224, 3), 255, np.uint8)])
    assert batch.dtype == np.float32 and batch.shape == (2, 224, 224, 3)
    assert (batch[0] == -1).all() and (batch[1] == 1).all()


EXPLAINED = np.array([0.5, 0.3, 0.1, 0.1])


@pytest.mark.parametrize("fraction, count", [(0.3, 1), (0.5, 1), (0.8, 2), (0.85, 3), (0.95, 4), (1.0, 4)])
def test_components_for_is_the_smallest_count_reaching_the_fraction(notebook, fraction, count):
    assert notebook.components_for(EXPLAINED, fraction) == count


def test_components_for_a_fraction_reached_up_to_rounding(notebook):
    assert notebook.components_for(np.full(10, 0.1), 1.0) == 10  # the cumulative sum ends at 0.9999999999999999


def test_choose_k_takes_a_count_as_it_is_and_a_fraction_as_the_components_reaching_it(notebook):
    assert notebook.choose_k(3, EXPLAINED, featurized=20, rejected=0) == 3
    assert notebook.choose_k(0.8, EXPLAINED, featurized=20, rejected=0) == 2


def test_choose_k_refuses_more_components_than_images_featurized(notebook):
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.choose_k(18, EXPLAINED, featurized=14, rejected=4)
    assert "parameter pca_k = 18 is not accepted: it must be at most the number of images featurized " \
           "(14; 4 rejected)" in str(refused.value)


ACCOUNTING = pd.DataFrame({"found": [3, 2]}, index=["Kiwi", "Lemon"])


def test_reconcile_accepts_files_found_equal_to_rows_written_per_label(notebook):
    notebook.reconcile(ACCOUNTING, pd.Series({"Kiwi": 3, "Lemon": 1}), pd.Series({"Lemon": 1}, dtype=int))


@pytest.mark.parametrize("features, rejects", [
    ({"Kiwi": 3, "Lemon": 1}, {}),  # a file lost
    ({"Kiwi": 3, "Lemon": 2}, {"Lemon": 1}),  # a file written twice
    ({"Kiwi": 3, "Lemon": 2, "Pear": 1}, {}),  # a row of a label never found
])
def test_reconcile_refuses_rows_that_do_not_match_the_files_found(notebook, features, rejects):
    with pytest.raises(ValueError, match="files found and rows written do not reconcile"):
        notebook.reconcile(ACCOUNTING, pd.Series(features, dtype=int), pd.Series(rejects, dtype=int))


class RecordingShell:
    """What IPython's handler receives as `shell`: records the error it is asked to show."""

    def showtraceback(self, exc_tuple, tb_offset=None):
        self.shown = exc_tuple[:2]


@pytest.mark.parametrize("exit_code, cause", [(3, "out of memory"), (1, "see its log above")])
def test_once_the_driver_jvm_has_exited_the_error_shown_names_driver_memory(notebook, monkeypatch, exit_code, cause):
    monkeypatch.setattr(notebook, "driver_exit_code", lambda: exit_code)
    shell = RecordingShell()
    notebook.explain_driver_failure(shell, ConnectionRefusedError, ConnectionRefusedError(111), None,
                                    driver_memory="2g")
    error_type, error = shell.shown
    assert error_type is RuntimeError
    assert f"the Spark driver stopped (JVM exit code {exit_code}: {cause})" in str(error)
    assert "raise the parameter driver_memory (now '2g'), for example -p driver_memory 8g" in str(error)


def test_while_the_driver_runs_a_py4j_error_is_shown_as_it_is(notebook, monkeypatch):
    monkeypatch.setattr(notebook, "driver_exit_code", lambda: None)
    shell, error = RecordingShell(), ValueError("a Spark error")
    notebook.explain_driver_failure(shell, ValueError, error, None, driver_memory="2g")
    assert shell.shown == (ValueError, error)
