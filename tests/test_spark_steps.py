"""The notebook's Spark steps on a small local Spark, called directly: the listing staged from Spark's
own file index, the empty files found by a join, the checks of what was written, the CSV written by
Spark and the report's sample. Nothing here collects a dataset to the driver but what the notebook does."""

import csv

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support.hostile_tree import IMAGE_GLOB

pytestmark = pytest.mark.slow  # a local Spark


@pytest.fixture(scope="module")
def listed(notebook, local_spark, hostile_tree, tmp_path_factory):
    """The hostile tree loaded as the notebook loads it and its listing staged in chunks of 3 paths:
    (root, expected outcomes, images_df, staged listing DataFrame, number of files Spark listed, its folder)."""
    root, outcomes = hostile_tree
    images_df = notebook.load_images(local_spark, str(root), IMAGE_GLOB)
    listed_files = images_df._jdf.inputFiles()
    listing_path = tmp_path_factory.mktemp("staging") / "listing"
    notebook.stage_listing(local_spark, listed_files, str(listing_path), chunk=3)
    listing_df = local_spark.read.parquet(str(listing_path)).withColumn("label", notebook.label_of("path"))
    return root, outcomes, images_df, listing_df, len(listed_files), listing_path


def test_the_listing_holds_every_matching_file_and_no_hidden_one(listed):
    root, outcomes, _, listing_df, found_count, _ = listed
    expected = sorted(f"file:{root}/{path}" for path, outcome in outcomes.items() if outcome != "skipped")
    assert sorted(row.path for row in listing_df.collect()) == expected
    assert found_count == len(expected)


def test_the_listing_is_staged_in_chunks(listed):
    _, _, _, _, found_count, listing_path = listed
    assert len(list(listing_path.glob("part-*.parquet"))) == -(-found_count // 3) > 1


def test_the_listing_labels_each_file_with_its_folder_name(listed):
    _, _, _, listing_df, _, _ = listed
    assert all(row.path.split("/")[-2] == row.label for row in listing_df.collect())


def test_the_files_of_the_listing_that_the_scan_skips_are_the_empty_ones(listed):
    root, outcomes, images_df, listing_df, _, _ = listed
    skipped = listing_df.join(images_df.select("path"), "path", "left_anti").collect()
    assert [row.path for row in skipped] == [f"file:{root}/{path}" for path, outcome in outcomes.items()
                                             if outcome == "empty file"]


def test_a_glob_matching_no_file_is_refused_once_spark_has_listed(notebook, local_spark, hostile_tree):
    root, _ = hostile_tree
    found_count = len(notebook.load_images(local_spark, str(root), "*.tiff")._jdf.inputFiles())
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.check_images_found(found_count, str(root), "*.tiff", 3)
    assert "parameter image_glob = '*.tiff' is not accepted: it must be a pattern matching at least one file" \
        in str(refused.value)


FEATURES_SCHEMA = pa.schema([("path", pa.string()), ("label", pa.string()), ("features", pa.list_(pa.float32())),
                             ("pca", pa.list_(pa.float64()))])


def write_features(folder, rows):
    """A features dataset as step 8 writes it when its first partition holds no image: an empty first part
    file, then one with `rows` ({column: values})."""
    folder.mkdir()
    pq.write_table(FEATURES_SCHEMA.empty_table(), folder / "part-00000.parquet")
    pq.write_table(pa.table(rows, schema=FEATURES_SCHEMA), folder / "part-00001.parquet")
    return str(folder)


def kiwis(feature_width=1280, k=2, value=0.5):
    """Two Kiwi rows of `feature_width` features (the last one `value`) and k scores."""
    features = [0.5] * (feature_width - 1) + [value]
    return {"path": ["file:/in/Kiwi/a.jpg", "file:/in/Kiwi/b.jpg"], "label": ["Kiwi", "Kiwi"],
            "features": [features] * 2, "pca": [[1.0] * k] * 2}


def test_spark_counts_the_written_rows_per_label_past_an_empty_part_file(notebook, local_spark, tmp_path):
    counts = notebook.written_label_counts(local_spark, write_features(tmp_path / "f", kiwis()), 2)
    assert counts.to_dict() == {"Kiwi": 2}


@pytest.mark.parametrize("rows, k, message", [
    (kiwis(feature_width=1279), 2, "features: expected 1280 finite values in every row, 2 rows have not"),
    (kiwis(value=float("nan")), 2, "features: expected 1280 finite values in every row, 2 rows have not"),
    (kiwis(value=float("inf")), 2, "features: expected 1280 finite values in every row, 2 rows have not"),
    (kiwis(), 3, "pca: expected 3 finite values in every row, 2 rows have not"),
], ids=["1279 features", "NaN", "infinity", "k=3 for 2 scores"])
def test_spark_refuses_written_rows_that_break_the_contract(notebook, local_spark, tmp_path, rows, k, message):
    with pytest.raises(ValueError, match=message):
        notebook.written_label_counts(local_spark, write_features(tmp_path / "f", rows), k)


def test_the_read_back_reads_at_most_its_rows_into_pandas_and_checks_them(notebook, tmp_path):
    rows, schema = notebook.read_back(write_features(tmp_path / "f", kiwis()), 2, rows=1)
    assert isinstance(rows, pd.DataFrame) and list(rows["path"]) == ["file:/in/Kiwi/a.jpg"]
    assert schema.names == ["path", "label", "features", "pca"]
    with pytest.raises(ValueError, match="features: found values that are not finite"):
        notebook.read_back(write_features(tmp_path / "g", kiwis(value=float("nan"))), 2, rows=1)


NAMES = ["Lemon/b.jpg", "Kiwi/a, \"green\".jpg", "Kiwi/a.jpg", "Pêche #1 100%/c.jpg"]


def scores_df(spark, paths):
    """A features DataFrame with only what the CSV needs: path, label, 2 scores per row."""
    return spark.createDataFrame([(path, path.split("/")[-2], [float(i), -float(i)]) for i, path in enumerate(paths)],
                                 "path string, label string, pca array<double>")


def test_the_csv_is_one_file_sorted_by_image_with_quoted_names(notebook, local_spark, tmp_path):
    table = notebook.pca_table(scores_df(local_spark, [f"s3://bucket/in/{name}" for name in NAMES]),
                               "s3://bucket/in", 2)
    notebook.write_csv(table, str(tmp_path / "pca_features.csv"), str(tmp_path / "_staging"))
    with open(tmp_path / "pca_features.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["image", "label", "pc_1", "pc_2"]
    assert [row[0] for row in rows[1:]] == sorted(NAMES)
    by_image = {row[0]: (row[1], float(row[2]), float(row[3])) for row in rows[1:]}
    assert by_image[NAMES[1]] == ("Kiwi", 1.0, -1.0)
    assert pd.read_csv(tmp_path / "pca_features.csv")["image"].tolist() == sorted(NAMES)
    assert [path.name for path in (tmp_path / "_staging" / "csv").glob("part-*")] == []


def test_the_csv_refuses_a_row_outside_the_input_uri(notebook, local_spark):
    with pytest.raises(ValueError, match="s3://bucket/other/Kiwi/a.jpg is not under input_path"):
        notebook.pca_table(scores_df(local_spark, ["s3://bucket/other/Kiwi/a.jpg"]), "s3://bucket/in", 2)


def test_the_report_sample_is_random_rows_of_the_table_at_most_its_size(notebook, local_spark):
    table = local_spark.range(1000).selectExpr("id", "id % 7 AS label")
    sample = notebook.sample_rows(table, 50)
    assert len(sample) == 50 and sample["id"].is_unique and set(sample["id"]) <= set(range(1000))
    assert sample["id"].max() > 500 and sample["id"].min() < 500  # not the first 50 rows
    assert sample.equals(notebook.sample_rows(table, 50))  # the same on a rerun
    assert len(notebook.sample_rows(table, 5000)) == 1000
