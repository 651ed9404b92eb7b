"""bootstrap/run-notebook.sh, the EMR step's script: it refuses to run off the primary node, and a
failing cell fails the step (a whole papermill run: slow)."""

import os
import sys

import pytest

from support.emr_scripts import run_script
from support.helpers import REPO

PROJECT = "s3://step-project/fruits-featurize"


def test_run_notebook_refuses_to_run_on_a_core_node(tmp_path):
    instance = tmp_path / "instance.json"
    instance.write_text('{"isMaster": false, "instanceGroupId": "ig-CORE"}')
    process = run_script("run-notebook.sh", PROJECT, f"{PROJECT}/runs/x/featurize.ipynb",
                         env={**os.environ, "EMR_INSTANCE_INFO": str(instance), "PYTHON": sys.executable})
    assert process.returncode != 0 and "not the primary node" in process.stderr


@pytest.mark.slow  # starts papermill and a kernel
def test_run_notebook_fails_the_step_when_a_cell_fails(ci_inputs, tmp_path):
    images, _ = ci_inputs
    executed = tmp_path / "executed.ipynb"
    # The project from this folder instead of S3; a bad parameter stops the notebook in step 2.
    process = run_script("run-notebook.sh", REPO, executed, "-p", "input_path", images,
                         "-p", "output_path", tmp_path / "out", "-p", "pca_k", "0",
                         env={**os.environ, "PYTHON": sys.executable, "AWS_EC2_METADATA_DISABLED": "true"})
    assert process.returncode != 0
    assert "parameter pca_k = 0 is not accepted" in process.stderr
    assert f"the notebook stopped with an error: open {executed}" in process.stderr
    assert executed.is_file()
