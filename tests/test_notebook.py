"""The notebook run headless with papermill on the fixture images: the output contract holds."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from conftest import (CI_CLASSES, CI_PARAMS, CI_PER_CLASS, cell_output, notebook_env, output_snapshot,
                      read_output, run_papermill)
from sample_images import FRUITS, make_sample

FEATURE_SIZE = 1280


def read_features(output):
    return read_output(output)[1]


def assert_equal_up_to_sign(scores, expected):
    """Each column of scores equals the same column of expected, or its negative (PCA's sign is free)."""
    assert scores.shape == expected.shape
    for i in range(expected.shape[1]):
        sign = np.sign(expected[:, i] @ scores[:, i])
        np.testing.assert_allclose(sign * scores[:, i], expected[:, i], atol=1e-4 * np.abs(expected).max(),
                                   err_msg=f"component {i + 1}")


def test_one_row_per_image_labelled_with_its_folder_name(ci_run, ci_inputs):
    features = read_features(ci_run)
    images, _ = ci_inputs
    on_disk = sorted(str(p.relative_to(images)) for p in images.rglob("*.jpg"))
    assert len(features) == len(on_disk) == CI_CLASSES * CI_PER_CLASS
    assert sorted(features["label"].unique()) == sorted(list(FRUITS)[:CI_CLASSES])
    for path, label in zip(features["path"], features["label"]):
        assert path.startswith("file:/") and path.split("/")[-2] == label


def test_features_are_1280_finite_float32_values_that_differ_between_images(ci_run):
    table = pq.read_table(ci_run / "features")
    assert str(table.schema.field("features").type) == "list<element: float>"
    features = np.stack(table.column("features").to_numpy())
    assert features.shape == (CI_CLASSES * CI_PER_CLASS, FEATURE_SIZE)
    assert np.isfinite(features).all()
    # Fixture weights must not collapse every image onto one vector (random weights do).
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    assert similarity[~np.eye(len(unit), dtype=bool)].max() < 0.995, "features barely depend on the image"
    assert features.std(axis=0).mean() > 0.05 * np.abs(features).mean()


def test_pca_scores_equal_numpy_pca_of_the_features_up_to_sign(ci_run):
    features = read_features(ci_run)
    x = np.stack(features["features"]).astype(np.float64)
    scores = np.stack(features["pca"])
    k = CI_PARAMS["pca_k"]
    assert scores.shape == (len(x), k)
    centred = x - x.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ components[:k].T
    assert_equal_up_to_sign(scores, expected)


def test_pca_is_the_one_spark_ml_pca_fit_finds(ci_run):
    """The notebook builds Spark ML's PCAModel from its own covariance: PCA.fit must agree with it."""
    from pyspark.ml.feature import PCA
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import SparkSession

    manifest, features = read_output(ci_run)
    x, k = np.stack(features["features"]).astype(np.float64), manifest["pca"]["k"]
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", 1).getOrCreate())
    try:
        vectors = spark.createDataFrame([(row.tolist(),) for row in x], "features array<double>")
        fitted = PCA(k=k, inputCol="v").fit(vectors.select(array_to_vector("features").alias("v")))
        fitted_variance, components = fitted.explainedVariance.toArray(), fitted.pc.toArray()
    finally:
        spark.stop()
    np.testing.assert_allclose(manifest["pca"]["explained_variance"], fitted_variance, rtol=1e-6)
    expected, scores = (x - x.mean(axis=0)) @ components, np.stack(features["pca"])
    assert_equal_up_to_sign(scores, expected)


def test_csv_has_relative_image_paths_labels_and_k_components(ci_run, ci_inputs):
    csv = pd.read_csv(ci_run / "pca_features.csv")
    k = CI_PARAMS["pca_k"]
    assert list(csv.columns) == ["image", "label"] + [f"pc_{i + 1}" for i in range(k)]
    images, _ = ci_inputs
    assert sorted(csv["image"]) == sorted(str(p.relative_to(images)) for p in images.rglob("*.jpg"))
    assert (csv["image"].str.split("/").str[0] == csv["label"]).all()
    features = read_features(ci_run)
    relative = features["path"].str.slice(len(f"file:{images}/"))
    scores_by_image = dict(zip(relative, features["pca"]))
    for row in csv.itertuples(index=False):
        np.testing.assert_allclose(row[2:], scores_by_image[row.image])


def test_model_is_built_once_per_worker_process_not_per_partition(ci_run):
    builds = int(cell_output(ci_run / "executed.ipynb", r"models built on the workers: (\d+)").group(1))
    worker_slots = 2  # ci.yaml runs local[2]
    assert CI_PARAMS["spark_master"] == "local[2]" and CI_PARAMS["num_partitions"] > worker_slots
    assert 1 <= builds <= worker_slots


def test_parameters_given_with_p_change_the_outputs(ci_inputs, tmp_path):
    other_images = tmp_path / "other images"
    make_sample(other_images, per_class=3, classes=2, seed=7)
    output = tmp_path / "output"
    process = run_papermill(tmp_path / "executed.ipynb", "output_path", output, "input_path", other_images,
                            "pca_k", 5, "num_partitions", 3)
    assert process.returncode == 0, process.stderr[-5000:]
    features = read_features(output)
    assert len(features) == 6 and sorted(features["label"].unique()) == sorted(list(FRUITS)[:2])
    assert all(len(scores) == 5 for scores in features["pca"])
    assert len(list((output / "features").glob("part-*.parquet"))) == 3
    assert list(pd.read_csv(output / "pca_features.csv").columns)[-1] == "pc_5"


def test_imagenet_weights_without_internet_stop_with_a_clear_message(ci_inputs, tmp_path):
    offline = {**notebook_env(), "KERAS_HOME": str(tmp_path / "keras"),  # nothing cached
               "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # refused at once
    process = run_papermill(tmp_path / "executed.ipynb", "output_path", tmp_path / "out", "weights", "imagenet",
                            env=offline)
    assert process.returncode != 0
    assert "could not download the ImageNet weights" in process.stderr
    assert "-p weights /path/to/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5" in process.stderr


def test_runs_with_different_output_paths_do_not_touch_each_other(ci_run, tmp_path):
    before = output_snapshot(ci_run)
    neighbour = ci_run.parent / f"{ci_run.name}-b"  # a sibling whose name starts with the same text
    process = run_papermill(tmp_path / "executed.ipynb", "output_path", neighbour, "pca_k", 3)
    assert process.returncode == 0, process.stderr[-5000:]
    assert output_snapshot(ci_run) == before
    assert read_output(neighbour)[0]["parameters"]["pca_k"] == 3

