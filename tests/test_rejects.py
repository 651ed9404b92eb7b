"""Bad input never breaks a run and no file is lost: rejects, accounting, manifest, safe outputs."""

import numpy as np
import pandas as pd
import pytest

from conftest import output_snapshot, read_output, run_papermill
from hostile_tree import BAD_FOLDER, IMAGE_GLOB, ODD_FOLDER, make_hostile_tree


@pytest.fixture(scope="module")
def hostile(ci_inputs, tmp_path_factory):
    """The hostile tree, run through the notebook: (tree, expected outcomes, output folder)."""
    base = tmp_path_factory.mktemp("hostile")
    outcomes = make_hostile_tree(base / "images")
    output = base / "output"
    process = run_papermill(base / "executed.ipynb", "input_path", base / "images", "output_path", output,
                            "image_glob", IMAGE_GLOB, "pca_k", 3)
    assert process.returncode == 0, process.stderr[-5000:]
    return base / "images", outcomes, output


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
                     if p.is_file() and p.name != "manifest.json" and not p.name.startswith("."))
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


def test_failed_run_leaves_no_manifest_and_next_run_leaves_a_clean_folder(hostile, tmp_path):
    images, outcomes, _ = hostile
    output = tmp_path / "output"
    (output / "features").mkdir(parents=True)
    (output / "features" / "part-99999-stale.parquet").write_text("from an earlier run")
    (output / "manifest.json").write_text("{}")
    (output / "notes.txt").write_text("the user's own file")
    found = len(expected(outcomes, lambda o: o != "skipped"))
    # pca_k passes the parameter check (at most the files found) but not the PCA (rejects excluded).
    failed = run_papermill(tmp_path / "failed.ipynb", "input_path", images, "output_path", output,
                           "image_glob", IMAGE_GLOB, "pca_k", found)
    assert failed.returncode != 0
    assert f"parameter pca_k = {found} is not accepted: it must be at most the number of images featurized" \
        in failed.stderr
    assert not (output / "manifest.json").exists()
    assert not (output / "features" / "part-99999-stale.parquet").exists()

    process = run_papermill(tmp_path / "good.ipynb", "input_path", images, "output_path", output,
                            "image_glob", IMAGE_GLOB, "pca_k", 2, "num_partitions", 2)
    assert process.returncode == 0, process.stderr[-5000:]
    manifest, features = read_output(output)
    assert len(list((output / "features").glob("part-*.parquet"))) == 2
    assert all(len(scores) == 2 for scores in features["pca"])
    assert (output / "notes.txt").read_text() == "the user's own file"
    on_disk = {path for path in output_snapshot(output) if not path.split("/")[-1].startswith(".")}
    assert on_disk == set(manifest["outputs"]) | {"manifest.json", "notes.txt"}
