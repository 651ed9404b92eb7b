"""The notebook's own functions, called directly (tools/notebook_code.py runs their definitions from
the notebook's cells): listing and decoding the files, choosing k, reconciling. The linear probe's are in
test_probe.py."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support.hostile_tree import BAD_FOLDER, IMAGE_GLOB, ODD_FOLDER


@pytest.mark.parametrize("glob, matching, not_matching", [
    ("*.jpg", ["a.jpg", "fruit #2 & (x) 50%.jpg"], ["a.jpeg", "a.jpg.txt", "ajpg"]),
    ("*.{jpg,png}", ["a.jpg", "b.png"], ["c.gif", "d.jp"]),
    ("r_?_100.jpg", ["r_1_100.jpg"], ["r_10_100.jpg"]),
    ("[ab]*.jpg", ["apple.jpg", "banana.jpg"], ["cherry.jpg"]),
    ("[!a]*.jpg", ["banana.jpg"], ["apple.jpg"]),
    ("[^a]*.jpg", ["banana.jpg"], ["apple.jpg"]),
    (r"\*.jpg", ["*.jpg"], ["a.jpg"]),
    ("(1)+.jpg", ["(1)+.jpg"], ["1.jpg", "11.jpg"]),  # regex characters are literal in a glob
])
def test_glob_regex_matches_file_names_as_the_hadoop_glob_does(notebook, glob, matching, not_matching):
    pattern = notebook.glob_regex(glob)
    assert [name for name in matching if not pattern.fullmatch(name)] == []
    assert [name for name in not_matching if pattern.fullmatch(name)] == []


def test_find_images_lists_the_matching_files_skipping_hidden_ones(notebook, hostile_tree):
    root, outcomes = hostile_tree
    found = notebook.find_images(str(root), IMAGE_GLOB)
    assert sorted(found["relative_path"]) == sorted(path for path, outcome in outcomes.items() if outcome != "skipped")


def test_find_images_labels_each_file_with_its_folder_name(notebook, hostile_tree):
    root, _ = hostile_tree
    found = notebook.find_images(str(root), IMAGE_GLOB)
    assert list(found["label"]) == [path.split("/")[0] for path in found["relative_path"]]


def test_find_images_gives_each_files_size(notebook, hostile_tree):
    root, _ = hostile_tree
    found = notebook.find_images(str(root), IMAGE_GLOB)
    assert list(found["size"]) == [(root / path).stat().st_size for path in found["relative_path"]]


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


def write_scores(folder, paths):
    """A features dataset as step 8 writes it, with the `path` column holding `paths` as Spark writes them."""
    folder.mkdir()
    pq.write_table(pa.table({"path": paths, "label": [path.split("/")[-2] for path in paths],
                             "pca": [[float(i), float(-i)] for i in range(len(paths))]}), folder / "part-0.parquet")
    return str(folder)


def test_pca_table_names_each_image_by_its_path_under_the_input_uri_sorted(notebook, tmp_path):
    features_path = write_scores(tmp_path / "features", ["s3://bucket/in/Lemon/a.jpg", "s3://bucket/in/Kiwi/a.jpg"])
    table = notebook.pca_table(features_path, "s3://bucket/in", 2)
    assert table.to_dict("list") == {"image": ["Kiwi/a.jpg", "Lemon/a.jpg"], "label": ["Kiwi", "Lemon"],
                                     "pc_1": [1.0, 0.0], "pc_2": [-1.0, 0.0]}


def test_pca_table_refuses_a_row_outside_the_input_uri(notebook, tmp_path):
    features_path = write_scores(tmp_path / "features", ["s3://bucket/other/Kiwi/a.jpg"])
    with pytest.raises(ValueError, match="s3://bucket/other/Kiwi/a.jpg is not under input_path"):
        notebook.pca_table(features_path, "s3://bucket/in", 2)


FEATURES_SCHEMA = pa.schema([("path", pa.string()), ("label", pa.string()), ("features", pa.list_(pa.float32())),
                             ("pca", pa.list_(pa.float64()))])


def write_features(folder, feature_width, k=2):
    """A features dataset as step 8 writes it when its first partition holds no image: an empty first
    part file, then one with two rows of `feature_width` features and `k` scores."""
    folder.mkdir()
    pq.write_table(FEATURES_SCHEMA.empty_table(), folder / "part-00000.parquet")
    rows = {"path": ["file:/in/Kiwi/a.jpg", "file:/in/Kiwi/b.jpg"], "label": ["Kiwi", "Kiwi"],
            "features": [[0.5] * feature_width] * 2, "pca": [[1.0] * k] * 2}
    pq.write_table(pa.table(rows, schema=FEATURES_SCHEMA), folder / "part-00001.parquet")
    return str(folder)


def test_validate_features_counts_the_labels_past_an_empty_part_file(notebook, tmp_path):
    labels, _ = notebook.validate_features(write_features(tmp_path / "features", 1280), 2)
    assert labels.to_dict() == {"Kiwi": 2}


def test_validate_features_refuses_rows_without_1280_features(notebook, tmp_path):
    with pytest.raises(ValueError, match="features: expected 1280 values in every row"):
        notebook.validate_features(write_features(tmp_path / "features", 1279), 2)


def test_validate_features_refuses_rows_without_k_scores(notebook, tmp_path):
    with pytest.raises(ValueError, match="pca: expected 3 values in every row"):
        notebook.validate_features(write_features(tmp_path / "features", 1280), 3)


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
