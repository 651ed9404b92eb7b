"""A bad parameter is refused with a message naming it and what it accepts: the notebook's check
functions on their own, and one whole run showing the check stops the run before Spark starts."""

import subprocess
import sys

import pytest

from notebook_code import notebook_parameters
from support.helpers import REPO, notebook_env, run_papermill, stdout_text


PARAMETERS = notebook_parameters()  # step 1's names and defaults


@pytest.fixture
def good_parameters(tmp_path):
    """Step 1's defaults, with an existing input folder and weights file and an output folder outside it."""
    (tmp_path / "images" / "Kiwi").mkdir(parents=True)
    weights = tmp_path / "fixture.weights.h5"
    weights.write_bytes(b"checked for existence only")
    return {**PARAMETERS, "input_path": str(tmp_path / "images"), "output_path": str(tmp_path / "output"),
            "weights": str(weights)}


def test_the_table_has_one_rule_for_each_parameter_of_step_1_in_its_order(notebook):
    assert [name for name, _, _ in notebook.PARAMETER_RULES] == list(PARAMETERS)


def test_step_1s_defaults_pass_the_check_with_existing_paths(notebook, good_parameters):
    assert notebook.check_parameters(good_parameters, notebook.PARAMETER_RULES) is None


def refusal(notebook, parameters):
    """The message of the ParameterError that the check raises on `parameters`."""
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.check_parameters(parameters, notebook.PARAMETER_RULES)
    return str(refused.value)


@pytest.mark.parametrize("name", PARAMETERS)
def test_every_parameter_refuses_none_naming_itself_and_what_it_accepts(notebook, good_parameters, name):
    assert refusal(notebook, {**good_parameters, name: None}).startswith(
        f"parameter {name} = None is not accepted: it must be ")


BAD_PARAMETERS = [
    ("input_path", "", "parameter input_path = '' is not accepted: it must be an existing folder"),
    ("input_path", "no/such/folder", "parameter input_path = 'no/such/folder' is not accepted: it must be an existing folder"),
    ("pca_k", 0, "parameter pca_k = 0 is not accepted: it must be a whole number from 1 to 1280"),
    ("pca_k", 1281, "parameter pca_k = 1281 is not accepted: it must be a whole number from 1 to 1280"),
    ("pca_k", 1.0, "parameter pca_k = 1.0 is not accepted: it must be a whole number from 1 to 1280, or a fraction"),
    ("pca_k", "accuracy", "parameter pca_k = 'accuracy' is not accepted: it must be a whole number from 1 to 1280, "
     'or a fraction of variance between 0 and 1, or "accuracy:T" with T from 0 to below 1'),
    ("pca_k", "accuracy:1", "parameter pca_k = 'accuracy:1' is not accepted"),
    ("pca_k", "20", "parameter pca_k = '20' is not accepted"),
    ("probe_test_fraction", 1.0, "parameter probe_test_fraction = 1.0 is not accepted: it must be 0 (no linear probe) "
     "or a fraction between 0 and 1"),
    ("probe_test_fraction", False, "parameter probe_test_fraction = False is not accepted"),
    ("probe_test_fraction", -0.2, "parameter probe_test_fraction = -0.2 is not accepted"),
    ("num_partitions", 0, "parameter num_partitions = 0 is not accepted: it must be a whole number of at least 1"),
    ("num_partitions", True, "parameter num_partitions = True is not accepted: it must be a whole number"),
    ("driver_memory", "4 GB", "parameter driver_memory = '4 GB' is not accepted: it must be a JVM memory size"),
    ("progress_seconds", 0, "parameter progress_seconds = 0 is not accepted: it must be a number of seconds above 0"),
    ("apply_exif_orientation", "yes", "parameter apply_exif_orientation = 'yes' is not accepted: it must be True or False"),
    ("weights", "missing.weights.h5", "parameter weights = 'missing.weights.h5' is not accepted: it must be \"imagenet\" or an existing"),
]


@pytest.mark.parametrize("name, value, message", BAD_PARAMETERS, ids=[f"{n}={v}" for n, v, _ in BAD_PARAMETERS])
def test_bad_parameter_is_refused_naming_it(notebook, good_parameters, name, value, message):
    assert message in refusal(notebook, {**good_parameters, name: value})


def test_a_fraction_of_variance_is_accepted_as_pca_k(notebook, good_parameters):
    assert notebook.check_parameters({**good_parameters, "pca_k": 0.95}, notebook.PARAMETER_RULES) is None


@pytest.mark.parametrize("value", ["accuracy:0.01", "accuracy:0"])
def test_an_accuracy_tolerance_is_accepted_as_pca_k(notebook, good_parameters, value):
    assert notebook.check_parameters({**good_parameters, "pca_k": value}, notebook.PARAMETER_RULES) is None


def test_the_accuracy_form_of_pca_k_is_refused_when_the_probe_is_off(notebook, good_parameters):
    parameters = {**good_parameters, "pca_k": "accuracy:0.01", "probe_test_fraction": 0}
    assert "and probe_test_fraction above 0" in refusal(notebook, parameters)


@pytest.mark.parametrize("value", [0, 0.0, 0.2, 0.5])
def test_probe_test_fraction_accepts_0_to_turn_the_probe_off_or_a_fraction(notebook, good_parameters, value):
    parameters = {**good_parameters, "probe_test_fraction": value}
    assert notebook.check_parameters(parameters, notebook.PARAMETER_RULES) is None


@pytest.mark.parametrize("inside", ["", "/results"])
def test_output_path_in_the_input_folder_is_refused(notebook, good_parameters, inside):
    output_path = good_parameters["input_path"] + inside
    assert "it must be a folder outside input_path" in refusal(notebook, {**good_parameters, "output_path": output_path})


def test_output_path_beside_the_input_folder_with_a_name_it_begins_is_accepted(notebook, good_parameters):
    sibling = good_parameters["input_path"] + "-features"
    assert notebook.check_parameters({**good_parameters, "output_path": sibling}, notebook.PARAMETER_RULES) is None


def test_pca_k_above_the_images_found_is_refused(notebook):
    with pytest.raises(notebook.ParameterError) as refused:
        notebook.check_images_found(7, "in", "*.jpg", 8)
    assert "parameter pca_k = 8 is not accepted: it must be at most the number of images found (7)" \
        in str(refused.value)
    assert notebook.check_images_found(7, "in", "*.jpg", 7) is None
    assert notebook.check_images_found(7, "in", "*.jpg", 0.95) is None


def test_the_accuracy_form_of_pca_k_passes_the_check_of_the_images_found(notebook):
    assert notebook.check_images_found(7, "in", "*.jpg", "accuracy:0.01") is None


@pytest.mark.slow  # Keras builds MobileNetV2
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
