"""The notebook run headless with papermill on the fixture images: the output contract holds, the
PCA is a textbook one and Spark ML's, and -p parameters change the outputs of their own folder."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from support.colour_tree import COLOURS, PER_COLOUR
from support.contract import assert_output_contract
from notebook_code import notebook_parameters
from support.helpers import CI_CLASSES, CI_PARAMS, CI_PER_CLASS, REPO, output_snapshot, read_output
from sample_images import FRUITS

pytestmark = pytest.mark.slow


def assert_equal_up_to_sign(scores, expected):
    """Each column of scores equals the same column of expected, or its negative (PCA's sign is free)."""
    assert scores.shape == expected.shape
    for i in range(expected.shape[1]):
        sign = np.sign(expected[:, i] @ scores[:, i])
        np.testing.assert_allclose(sign * scores[:, i], expected[:, i], atol=1e-4 * np.abs(expected).max(),
                                   err_msg=f"component {i + 1}")


def test_ci_run_meets_the_output_contract(ci_run, ci_inputs):
    images, _ = ci_inputs
    relative = [str(path.relative_to(images)) for path in images.rglob("*.jpg")]
    assert len(relative) == CI_CLASSES * CI_PER_CLASS
    manifest, features = read_output(ci_run)
    assert_output_contract(features, pd.read_csv(ci_run / "pca_features.csv"), f"file:{images}", relative,
                           list(FRUITS)[:CI_CLASSES], CI_PARAMS["pca_k"])
    assert manifest["pca"]["k"] == CI_PARAMS["pca_k"]


def test_manifest_records_the_value_of_every_parameter_of_step_1(ci_run):
    recorded = read_output(ci_run)[0]["parameters"]
    # The nbval run's parameters: params/ci.yaml with its paths made absolute (helpers.prepare_for_nbval).
    absolute = {name: str(REPO / CI_PARAMS[name]) for name in ("input_path", "weights")}
    assert recorded == {**notebook_parameters(), **CI_PARAMS, **absolute, "output_path": str(ci_run)}
    assert list(recorded) == list(notebook_parameters())


def test_features_are_float32_values_that_differ_between_images(ci_run):
    table = pq.read_table(ci_run / "features")
    assert str(table.schema.field("features").type) == "list<element: float>"
    features = np.stack(table.column("features").to_numpy())
    # Fixture weights must not collapse every image onto one vector (random weights do).
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    assert similarity[~np.eye(len(unit), dtype=bool)].max() < 0.995, "features barely depend on the image"
    assert features.std(axis=0).mean() > 0.05 * np.abs(features).mean()


def test_pca_scores_equal_numpy_pca_of_the_features_up_to_sign(ci_run):
    features = read_output(ci_run)[1]
    x = np.stack(features["features"]).astype(np.float64)
    scores = np.stack(features["pca"])
    k = CI_PARAMS["pca_k"]
    assert scores.shape == (len(x), k)
    centred = x - x.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ components[:k].T
    assert_equal_up_to_sign(scores, expected)


def test_pca_is_the_one_spark_ml_pca_fit_finds(ci_run, local_spark):
    """The notebook builds Spark ML's PCAModel from its own covariance: PCA.fit must agree with it."""
    from pyspark.ml.feature import PCA
    from pyspark.ml.functions import array_to_vector

    manifest, features = read_output(ci_run)
    x, k = np.stack(features["features"]).astype(np.float64), manifest["pca"]["k"]
    vectors = local_spark.createDataFrame([(row.tolist(),) for row in x], "features array<double>")
    fitted = PCA(k=k, inputCol="v").fit(vectors.select(array_to_vector("features").alias("v")))
    fitted_variance, components = fitted.explainedVariance.toArray(), fitted.pc.toArray()
    np.testing.assert_allclose(manifest["pca"]["explained_variance"], fitted_variance, rtol=1e-6)
    expected, scores = (x - x.mean(axis=0)) @ components, np.stack(features["pca"])
    assert_equal_up_to_sign(scores, expected)


def test_model_is_built_once_per_worker_process_not_per_partition(ci_run):
    worker_slots = 2  # ci.yaml runs local[2]
    assert CI_PARAMS["spark_master"] == "local[2]" and CI_PARAMS["num_partitions"] > worker_slots
    assert 1 <= read_output(ci_run)[0]["model_builds"] <= worker_slots


def test_parameters_given_with_p_change_the_outputs(colours_run):
    manifest, features = read_output(colours_run.output)
    k = manifest["pca"]["k"]
    assert manifest["parameters"]["pca_k"] == "accuracy:0.01"
    assert len(features) == len(COLOURS) * PER_COLOUR + 1
    assert sorted(features["label"].unique()) == sorted([*COLOURS, "lonely"])
    assert all(len(scores) == k for scores in features["pca"])
    assert len(list((colours_run.output / "features").glob("part-*.parquet"))) == 3
    assert list(pd.read_csv(colours_run.output / "pca_features.csv").columns)[-1] == f"pc_{k}"


def test_runs_with_different_output_paths_do_not_touch_each_other(colours_run):
    assert colours_run.output.name.startswith(colours_run.neighbour.name)
    assert output_snapshot(colours_run.neighbour) == colours_run.neighbour_files_before
    assert read_output(colours_run.output)[0]["parameters"]["output_path"] == str(colours_run.output)
