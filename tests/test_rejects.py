"""Bad input never breaks a run and no file is lost: rejects, accounting, manifest, safe outputs."""

import json

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from support.helpers import NOTEBOOK, read_output, run_notebook, run_papermill, stdout_text
from support.hostile_tree import BAD_FOLDER, IMAGE_GLOB, ODD_FOLDER
from sample_images import make_sample

pytestmark = pytest.mark.slow

STALE_PART = "features/part-99999-stale.parquet"
USER_FILE = "notes.txt"


def leave_an_earlier_run_and_a_user_file(output):
    """An output folder as an earlier run and its user left it: a stale part file, a manifest, a note."""
    (output / "features").mkdir(parents=True)
    (output / STALE_PART).write_text("from an earlier run")
    (output / "manifest.json").write_text("{}")
    (output / USER_FILE).write_text("the user's own file")


@pytest.fixture(scope="module")
def hostile(ci_inputs, hostile_tree, tmp_path_factory):
    """The hostile tree, run through the notebook into a folder an earlier run had written, photos turned
    upright by their EXIF orientation (the default, the original method's, is the fidelity test's):
    (tree, expected outcomes, output folder)."""
    images, outcomes = hostile_tree
    base = tmp_path_factory.mktemp("hostile-run")
    output = base / "output"
    leave_an_earlier_run_and_a_user_file(output)
    run_notebook(base / "executed.ipynb", "input_path", images, "output_path", output, "image_glob", IMAGE_GLOB,
                 "pca_k", 3, "apply_exif_orientation", True)
    return images, outcomes, output


def relative(paths, images):
    return paths.str.slice(len(f"file:{images}/"))


def expected(outcomes, keep):
    return sorted(path for path, outcome in outcomes.items() if keep(outcome))


def featurized(outcome):
    return outcome == "featurized"


def rejected(outcome):
    return outcome not in ("featurized", "skipped")


def test_every_readable_image_has_features(hostile):
    images, outcomes, output = hostile
    _, features = read_output(output)
    assert sorted(relative(features["path"], images)) == expected(outcomes, featurized)


def test_a_feature_row_is_labelled_with_its_folder_name(hostile):
    _, _, output = hostile
    _, features = read_output(output)
    assert set(features["label"]) == {ODD_FOLDER}


def test_every_unreadable_file_is_a_reject_with_its_reason(hostile):
    images, outcomes, output = hostile
    rejects = pd.read_parquet(output / "rejected")
    reasons = dict(zip(relative(rejects["path"], images), rejects["reason"]))
    assert reasons == {path: outcome for path, outcome in outcomes.items() if rejected(outcome)}


def test_a_reject_is_labelled_with_its_folder_name(hostile):
    _, _, output = hostile
    assert set(pd.read_parquet(output / "rejected")["label"]) == {BAD_FOLDER}


def test_every_reject_says_what_the_decoder_said(hostile):
    _, _, output = hostile
    assert pd.read_parquet(output / "rejected")["detail"].str.len().min() > 0


def test_manifest_counts_found_as_featurized_plus_rejected(hostile):
    _, outcomes, output = hostile
    manifest, _ = read_output(output)
    featurized_count, rejected_count = len(expected(outcomes, featurized)), len(expected(outcomes, rejected))
    assert manifest["counts"] == {"found": featurized_count + rejected_count, "featurized": featurized_count,
                                  "rejected": rejected_count}


def test_manifest_counts_each_label(hostile):
    _, outcomes, output = hostile
    manifest, _ = read_output(output)
    featurized_count, rejected_count = len(expected(outcomes, featurized)), len(expected(outcomes, rejected))
    assert manifest["labels"] == {
        ODD_FOLDER: {"found": featurized_count, "featurized": featurized_count, "rejected": 0},
        BAD_FOLDER: {"found": rejected_count, "featurized": 0, "rejected": rejected_count}}


def test_manifest_counts_the_rejects_of_each_reason(hostile):
    manifest, _ = read_output(hostile[2])
    assert manifest["rejects_by_reason"] == {"empty file": 1, "not an image": 1, "truncated": 1, "too many pixels": 1}


def test_manifest_records_the_versions_of_the_libraries_that_made_the_features(hostile):
    manifest, _ = read_output(hostile[2])
    assert set(manifest["versions"]) == {"python", "spark", "tensorflow", "keras", "onnxruntime"}


def test_manifest_records_when_the_run_started_and_finished(hostile):
    manifest, _ = read_output(hostile[2])
    assert manifest["started_at"] <= manifest["finished_at"]


def test_manifest_lists_exactly_the_output_files(hostile):
    _, _, output = hostile
    manifest, _ = read_output(output)
    on_disk = sorted(str(p.relative_to(output)) for p in output.rglob("*")
                     if p.is_file() and p.name not in ("manifest.json", USER_FILE) and not p.name.startswith("."))
    assert manifest["outputs"] == on_disk
    assert "pca_features.csv" in on_disk and any(p.startswith("rejected/part-") for p in on_disk)


def features_of(hostile, name):
    images, _, output = hostile
    _, features = read_output(output)
    by_name = dict(zip(relative(features["path"], images), features["features"]))
    return np.asarray(by_name[f"{ODD_FOLDER}/{name}"])


UNUSUAL_AND_PLAIN_TWINS = [
    ("transparent.png", "white.png"),  # alpha dropped onto white
    ("grey-16-bit.png", "grey-8-bit.png"),  # 16 bits scaled, not clipped to white
    ("exif-rotated.png", "upright.png"),  # EXIF orientation honoured, as the run asks
]


@pytest.mark.parametrize("image, twin", UNUSUAL_AND_PLAIN_TWINS)
def test_unusual_image_has_the_features_of_its_plain_twin(hostile, image, twin):
    np.testing.assert_allclose(features_of(hostile, image), features_of(hostile, twin), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("image", [image for image, _ in UNUSUAL_AND_PLAIN_TWINS])
def test_unusual_image_has_features_of_its_own(hostile, image):
    """Else equal features of twins would prove nothing."""
    assert not np.allclose(features_of(hostile, image), features_of(hostile, "fruit #2 & (x) 50%.jpg"), atol=1e-3)


def test_csv_keeps_paths_with_spaces_hashes_percents_and_accents(hostile):
    _, outcomes, output = hostile
    csv = pd.read_csv(output / "pca_features.csv")
    assert sorted(csv["image"]) == expected(outcomes, featurized)


def test_a_run_replaces_an_earlier_runs_manifest(hostile):
    _, _, output = hostile
    assert json.loads((output / "manifest.json").read_text())["counts"]["found"] > 0  # not the earlier "{}"


def test_a_run_removes_an_earlier_runs_stale_files(hostile):
    _, _, output = hostile
    assert not (output / STALE_PART).exists()


def test_a_run_keeps_the_users_files_in_its_output_folder(hostile):
    _, _, output = hostile
    assert (output / USER_FILE).read_text() == "the user's own file"


def test_one_label_of_images_skips_the_linear_probe_with_a_message(hostile):
    """Every image of the tree that decodes is in one folder (the other's are all rejects): the probe needs two
    labels, so it is skipped, the run goes on and says why, and the report still has its curve."""
    _, _, output = hostile
    manifest, _ = read_output(output)
    skipped = "skipped: it needs 2 labels with images on both sides, found 1"
    assert manifest["probe"]["status"] == skipped
    assert manifest["probe"]["images"] == {"training": 10, "held out": 2, "unused": 0}  # 12 images: 2.4 held out
    assert "ladder" not in manifest["probe"]
    assert f"linear probe {skipped}" in stdout_text(output.parent / "executed.ipynb")
    assert (output / "report" / "probe_accuracy.png").is_file()


# A bug of ours on purpose, for palette images only: the other images of the run convert as usual.
BROKEN_CONVERSION = """
working_to_rgb = to_rgb


def to_rgb(image):
    \"\"\"The notebook's conversion, with a bug on purpose for palette images.\"\"\"
    if image.mode == "P":
        raise TypeError("a bug in the conversion, on purpose")
    return working_to_rgb(image)
"""


def notebook_with_broken_conversion(path):
    """The notebook with BROKEN_CONVERSION in a cell right after the one defining to_rgb, written to `path`."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    defining = next(i for i, cell in enumerate(notebook.cells) if "def to_rgb(" in cell.source)
    notebook.cells.insert(defining + 1, nbformat.v4.new_code_cell(BROKEN_CONVERSION))
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def broken_conversion_run(ci_inputs, tmp_path_factory):
    """A run whose conversion code fails on the one palette image among good JPEGs, into a folder an
    earlier run had written: (finished papermill process, executed notebook, output folder)."""
    base = tmp_path_factory.mktemp("broken-conversion")
    images, output, executed = base / "images", base / "output", base / "executed.ipynb"
    make_sample(images, per_class=2, classes=2)
    Image.new("RGB", (100, 100), "orange").convert("P").save(images / "Banana" / "palette.png")
    leave_an_earlier_run_and_a_user_file(output)
    # One partition: the JPEGs and the palette image in one task, so nothing else of the run can fail it.
    process = run_papermill(executed, "input_path", images, "output_path", output, "image_glob", "*.{jpg,png}",
                            "pca_k", 2, "num_partitions", 1,
                            notebook=notebook_with_broken_conversion(base / "broken.ipynb"))
    return process, executed, output


def test_an_error_in_our_conversion_fails_the_run_instead_of_rejecting_the_image(broken_conversion_run):
    process, executed, _ = broken_conversion_run
    assert process.returncode != 0, "the run committed with the broken conversion's images as rejects"
    assert "TypeError: a bug in the conversion, on purpose" in process.stderr
    assert "Spark UI" in stdout_text(executed), "the run failed before Spark"


def test_a_failed_run_leaves_no_manifest(broken_conversion_run):
    _, _, output = broken_conversion_run
    assert not (output / "manifest.json").exists()


def test_a_failed_run_leaves_no_stale_file_of_an_earlier_run(broken_conversion_run):
    _, _, output = broken_conversion_run
    assert not (output / STALE_PART).exists()


def test_a_failed_run_keeps_the_users_files(broken_conversion_run):
    _, _, output = broken_conversion_run
    assert (output / USER_FILE).read_text() == "the user's own file"
