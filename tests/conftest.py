"""Shared fixtures: the images and weights named in params/ci.yaml, and a papermill runner."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from sample_images import make_sample

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "featurize.ipynb"
CI_PARAMS_FILE = REPO / "params" / "ci.yaml"
CI_PARAMS = yaml.safe_load(CI_PARAMS_FILE.read_text())
CI_CLASSES, CI_PER_CLASS = 4, 5  # 20 images: ci.yaml's pca_k and partitions are sized for them


def notebook_env():
    """Environment for a notebook run: Spark on loopback, workers on this Python."""
    return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}


def run_papermill(output_notebook, *parameters, env=None, kernel="python3"):
    """Execute the notebook with params/ci.yaml plus `-p name value` pairs; return the process."""
    command = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output_notebook),
               "-k", kernel, "-f", str(CI_PARAMS_FILE), "--log-output"]
    for name, value in zip(parameters[::2], parameters[1::2]):
        command += ["-p", name, str(value)]
    return subprocess.run(command, cwd=REPO, env=env or notebook_env(), capture_output=True, text=True,
                          timeout=900)


def stdout_text(notebook_path):
    """Everything the executed notebook's code cells printed."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.get("name") == "stdout")


def cell_output(notebook_path, pattern):
    """First match of regex `pattern` in what the executed notebook printed."""
    match = re.search(pattern, stdout_text(notebook_path))
    assert match, f"no output matching {pattern!r} in {notebook_path}"
    return match


def read_output(output):
    """(manifest, features DataFrame) of a committed output folder: trusted only with its manifest."""
    import pandas as pd

    manifest_file = Path(output) / "manifest.json"
    assert manifest_file.is_file(), f"{output} has no manifest.json: the run did not complete"
    return json.loads(manifest_file.read_text()), pd.read_parquet(Path(output) / "features")


def output_snapshot(output):
    """{relative path: (size, mtime)} of every file in an output folder."""
    return {str(p.relative_to(output)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in Path(output).rglob("*") if p.is_file()}


@pytest.fixture(scope="session")
def ci_inputs():
    """The fixture images and the calibrated weights file that params/ci.yaml names."""
    images = REPO / CI_PARAMS["input_path"]
    if not images.is_dir():
        make_sample(images, per_class=CI_PER_CLASS, classes=CI_CLASSES)
    weights = REPO / CI_PARAMS["weights"]
    if not weights.is_file():
        subprocess.run([sys.executable, str(REPO / "tools" / "fixture_weights.py"), str(weights)], check=True)
    return images, weights


@pytest.fixture(scope="session")
def ci_run(ci_inputs, tmp_path_factory):
    """One papermill run of the notebook with params/ci.yaml, into a temporary output folder."""
    output = tmp_path_factory.mktemp("ci-run")
    process = run_papermill(output / "executed.ipynb", "output_path", output)
    assert process.returncode == 0, process.stderr[-5000:]
    return output
