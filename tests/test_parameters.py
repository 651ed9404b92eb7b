"""A bad parameter stops the run at the parameter check, before any Spark work, naming it."""

import subprocess
import sys

import pytest

from conftest import CI_PARAMS, run_papermill, stdout_text


@pytest.fixture(scope="module")
def foreign_weights(tmp_path_factory):
    """A valid Keras weights file, but of another model than MobileNetV2."""
    path = tmp_path_factory.mktemp("weights") / "small.weights.h5"
    script = ("import keras, sys; m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]); "
              "m.save_weights(sys.argv[1])")
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    return path


BAD_PARAMETERS = [
    ("input_path", "", "parameter input_path = '' is not accepted: it must be a folder of images"),
    ("input_path", "no/such/folder", "parameter input_path = 'no/such/folder' is not accepted: it must be an existing folder"),
    ("image_glob", "*.tiff", "parameter image_glob = '*.tiff' is not accepted: it must be a pattern matching at least one file"),
    ("pca_k", 0, "parameter pca_k = 0 is not accepted: it must be a whole number from 1 to 1280"),
    ("pca_k", 1281, "parameter pca_k = 1281 is not accepted: it must be a whole number from 1 to 1280"),
    ("pca_k", 21, "parameter pca_k = 21 is not accepted: it must be at most the number of images found (20)"),
    ("num_partitions", 0, "parameter num_partitions = 0 is not accepted: it must be a whole number of at least 1"),
    ("weights", "missing.weights.h5", "parameter weights = 'missing.weights.h5' is not accepted: it must be \"imagenet\" or an existing"),
    ("output_path", CI_PARAMS["input_path"], "it must be outside input_path"),
    ("output_path", CI_PARAMS["input_path"] + "/results", "it must be outside input_path"),
]


@pytest.mark.parametrize("name, value, message", BAD_PARAMETERS, ids=[f"{n}={v}" for n, v, _ in BAD_PARAMETERS])
def test_bad_parameter_stops_the_run_before_spark_naming_it(ci_inputs, tmp_path, name, value, message):
    executed = tmp_path / "executed.ipynb"
    parameters = {"output_path": tmp_path / "out", name: value}
    process = run_papermill(executed, *[item for pair in parameters.items() for item in pair])
    assert process.returncode != 0
    assert message in process.stderr
    assert "Spark UI" not in stdout_text(executed), "Spark started before the parameters were checked"


def test_weights_of_another_model_are_refused_before_spark(ci_inputs, foreign_weights, tmp_path):
    executed = tmp_path / "executed.ipynb"
    process = run_papermill(executed, "output_path", tmp_path / "out", "weights", foreign_weights)
    assert process.returncode != 0
    assert f"parameter weights = '{foreign_weights}' is not accepted: it must be a MobileNetV2" in process.stderr
    assert "Spark UI" not in stdout_text(executed)
