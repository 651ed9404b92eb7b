"""A bad parameter is refused with a message naming it and what it accepts: the notebook's check
functions on their own, and one whole run showing the check stops the run before Spark starts."""

import subprocess
import sys

import pytest

from support.helpers import REPO, notebook_env, run_papermill, stdout_text


@pytest.fixture
def good_parameters(tmp_path):
    """A value every check accepts, for each parameter: an existing input folder and weights file."""
    (tmp_path / "images" / "Kiwi").mkdir(parents=True)
    weights = tmp_path / "fixture.weights.h5"
    weights.write_bytes(b"checked for existence only")
    return dict(input_path=str(tmp_path / "images"), output_path=str(tmp_path / "output"), image_glob="*.jpg",
                num_partitions=4, pca_k=4, weights=str(weights), inference_batch_size=4, inference_threads=1,
                arrow_batch_size=3, spark_master="local[2]", driver_memory="2g", progress_seconds=10,
                report_sample_size=2000)


def test_good_parameters_pass_the_check(notebook, good_parameters):
    assert notebook.check_parameters(**good_parameters) is None


BAD_PARAMETERS = [
    ("input_path", "", "parameter input_path = '' is not accepted: it must be a folder of images"),
    ("input_path", "no/such/folder", "parameter input_path = 'no/such/folder' is not accepted: it must be an existing folder"),
    ("pca_k", 0, "parameter pca_k = 0 is not accepted: it must be a whole number from 1 to 1280"),
    ("pca_k", 1281, "parameter pca_k = 1281 is not accepted: it must be a whole number from 1 to 1280"),
    ("num_partitions", 0, "parameter num_partitions = 0 is not accepted: it must be a whole number of at least 1"),
    ("weights", "missing.weights.h5", "parameter weights = 'missing.weights.h5' is not accepted: it must be \"imagenet\" or an existing"),
]


@pytest.mark.parametrize("name, value, message", BAD_PARAMETERS, ids=[f"{n}={v}" for n, v, _ in BAD_PARAMETERS])
def test_bad_parameter_is_refused_naming_it(notebook, good_parameters, name, value, message):
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.check_parameters(**{**good_parameters, name: value})
    assert message in str(refused.value)


@pytest.mark.parametrize("inside", ["", "/results"])
def test_output_path_in_the_input_folder_is_refused(notebook, good_parameters, inside):
    output_path = good_parameters["input_path"] + inside
    with pytest.raises(notebook.ParameterError, match="it must be outside input_path"):
        notebook.check_parameters(**{**good_parameters, "output_path": output_path})


def test_a_glob_matching_no_file_is_refused(notebook, hostile_tree):
    root, _ = hostile_tree
    found = notebook.find_images(str(root), "*.tiff")
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.check_images_found(found, str(root), "*.tiff", 3)
    assert "parameter image_glob = '*.tiff' is not accepted: it must be a pattern matching at least one file" \
        in str(refused.value)


def test_pca_k_above_the_images_found_is_refused(notebook, hostile_tree):
    root, _ = hostile_tree
    found = notebook.find_images(str(root), "*.jpg")
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.check_images_found(found, str(root), "*.jpg", len(found) + 1)
    assert (f"parameter pca_k = {len(found) + 1} is not accepted: it must be at most the number of images found "
            f"({len(found)})") in str(refused.value)
    assert notebook.check_images_found(found, str(root), "*.jpg", len(found)) is None


def test_weights_of_another_model_are_refused(notebook, tmp_path):
    import keras

    foreign = tmp_path / "small.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(foreign)
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.load_mobilenet(str(foreign))
    assert f"parameter weights = '{foreign}' is not accepted: it must be a MobileNetV2" in str(refused.value)


@pytest.mark.slow
def test_imagenet_weights_without_internet_stop_with_a_clear_message(tmp_path):
    offline = {**notebook_env(), "KERAS_HOME": str(tmp_path / "keras"),  # nothing cached
               "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # refused at once
    load = "from notebook_code import notebook_functions; notebook_functions().load_mobilenet('imagenet')"
    process = subprocess.run([sys.executable, "-c", load], cwd=REPO / "tools", env=offline, capture_output=True,
                             text=True, timeout=300)
    assert process.returncode != 0
    assert "could not download the ImageNet weights" in process.stderr
    assert "-p weights /path/to/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5" in process.stderr


@pytest.mark.slow
def test_a_bad_parameter_stops_the_whole_run_before_spark(ci_inputs, tmp_path):
    executed = tmp_path / "executed.ipynb"
    process = run_papermill(executed, "output_path", tmp_path / "out", "num_partitions", 0)
    assert process.returncode != 0
    assert "parameter num_partitions = 0 is not accepted: it must be a whole number of at least 1" in process.stderr
    assert "Spark UI" not in stdout_text(executed), "Spark started before the parameters were checked"
