"""Bad input never breaks a run and no file is lost: rejects, accounting, manifest, safe outputs."""

import json

import numpy as np
import pandas as pd
import pytest

from support.helpers import read_output, run_notebook, run_papermill, stdout_text
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
    """The hostile tree, run through the notebook into a folder an earlier run had written:
    (tree, expected outcomes, output folder)."""
    images, outcomes = hostile_tree
    base = tmp_path_factory.mktemp("hostile-run")
    output = base / "output"
    leave_an_earlier_run_and_a_user_file(output)
    run_notebook(base / "executed.ipynb", "input_path", images, "output_path", output, "image_glob", IMAGE_GLOB,
                 "pca_k", 3)
    return images, outcomes, output


def relative(paths, images):
    return paths.str.slice(len(f"file:{images}/"))


def expected(outcomes, keep):
    return sorted(path for path, outcome in outcomes.items() if keep(outcome))


def test_every_readable_image_has_features_with_its_folder_name_as_label(hostile):
    images, outcomes, output = hostile
    _, features = read_output(output)
    assert sorted(relative(features["path"], images)) == expected(outcomes, lambda o: o == "featurized")
    assert set(features["label"]) == {ODD_FOLDER}


def test_every_unreadable_file_is_a_reject_with_its_reason(hostile):
    images, outcomes, output = hostile
    rejected = pd.read_parquet(output / "rejected")
    reasons = dict(zip(relative(rejected["path"], images), rejected["reason"]))
    assert reasons == {path: o for path, o in outcomes.items() if o not in ("featurized", "skipped")}
    assert set(rejected["label"]) == {BAD_FOLDER}
    assert rejected["detail"].str.len().min() > 0


def test_found_equals_featurized_plus_rejected_in_the_manifest(hostile):
    _, outcomes, output = hostile
    manifest, _ = read_output(output)
    featurized = len(expected(outcomes, lambda o: o == "featurized"))
    rejected = len(expected(outcomes, lambda o: o not in ("featurized", "skipped")))
    assert manifest["counts"] == {"found": featurized + rejected, "featurized": featurized, "rejected": rejected}
    assert manifest["labels"] == {
        ODD_FOLDER: {"found": featurized, "featurized": featurized, "rejected": 0},
        BAD_FOLDER: {"found": rejected, "featurized": 0, "rejected": rejected}}
    assert manifest["rejects_by_reason"] == {"empty file": 1, "not an image": 1, "truncated": 1, "too many pixels": 1}
    assert set(manifest["versions"]) == {"python", "spark", "tensorflow", "keras", "onnxruntime"}
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


@pytest.mark.parametrize("image, twin", [
    ("transparent.png", "white.png"),  # alpha dropped onto white
    ("grey-16-bit.png", "grey-8-bit.png"),  # 16 bits scaled, not clipped to white
    ("exif-rotated.png", "upright.png"),  # EXIF orientation honoured
])
def test_unusual_image_is_converted_like_its_plain_twin(hostile, image, twin):
    np.testing.assert_allclose(features_of(hostile, image), features_of(hostile, twin), rtol=1e-4, atol=1e-4)
    assert not np.allclose(features_of(hostile, image), features_of(hostile, "fruit #2 & (x) 50%.jpg"), atol=1e-3)


def test_csv_keeps_paths_with_spaces_hashes_percents_and_accents(hostile):
    _, outcomes, output = hostile
    csv = pd.read_csv(output / "pca_features.csv")
    assert sorted(csv["image"]) == expected(outcomes, lambda o: o == "featurized")


def test_a_run_removes_an_earlier_runs_outputs_and_keeps_the_users_files(hostile):
    _, _, output = hostile
    assert json.loads((output / "manifest.json").read_text())["counts"]["found"] > 0  # not the earlier "{}"
    assert not (output / STALE_PART).exists()
    assert (output / USER_FILE).read_text() == "the user's own file"


def test_a_run_failing_after_featurization_leaves_no_manifest_and_no_stale_file(ci_inputs, tmp_path):
    images = tmp_path / "images"
    make_sample(images, per_class=2, classes=1)
    (images / "Apple Braeburn" / "empty.jpg").write_bytes(b"")  # found, then rejected
    output = tmp_path / "output"
    leave_an_earlier_run_and_a_user_file(output)
    # pca_k passes the parameter check (at most the files found) but not the PCA (rejects excluded).
    failed = run_papermill(tmp_path / "failed.ipynb", "input_path", images, "output_path", output, "pca_k", 3)
    assert failed.returncode != 0
    assert "parameter pca_k = 3 is not accepted: it must be at most the number of images featurized" in failed.stderr
    assert "Spark UI" in stdout_text(tmp_path / "failed.ipynb"), "the run failed before Spark"
    assert not (output / "manifest.json").exists()
    assert not (output / STALE_PART).exists()
    assert (output / USER_FILE).read_text() == "the user's own file"
