"""What the tests share that is not a fixture: paths, the papermill and nbval runners, readers of a
finished run's outputs, and small waits for servers. Fixtures are in conftest.py."""

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "featurize.ipynb"
CI_PARAMS_FILE = REPO / "params" / "ci.yaml"
CI_PARAMS = yaml.safe_load(CI_PARAMS_FILE.read_text())
CI_CLASSES, CI_PER_CLASS = 4, 5  # 20 images: ci.yaml's pca_k and partitions are sized for them
FEATURE_SIZE = 1280  # width of MobileNetV2's penultimate layer: the notebook's FEATURE_SIZE
# What generates params/ci.yaml's images and weights: the cached copy in build/ci is theirs only.
CI_INPUT_GENERATORS = [REPO / "tools" / "sample_images.py", REPO / "tools" / "fixture_weights.py"]


def generators_digest():
    """SHA-256 of the generators' contents: a cached fixture made by other code is stale."""
    digest = hashlib.sha256()
    for path in CI_INPUT_GENERATORS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextmanager
def locked(lock_file):
    """Hold an exclusive lock on `lock_file` (made if missing): one process at a time, among the
    processes of pytest-xdist and any other test run on the same checkout."""
    Path(lock_file).parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def made_once(tmp_path_factory, name, make):
    """A folder of this test session, filled by `make(folder)` in the first process that asks for it;
    the others wait for it and reuse it. pytest-xdist gives each process its own session fixtures and
    its own temporary folder (popen-gw0, popen-gw1...) under one folder per session."""
    session = tmp_path_factory.getbasetemp()
    if session.name == f"popen-{os.environ.get('PYTEST_XDIST_WORKER')}":  # not a pytest this one started
        session = session.parent
    folder, done = session / name, session / f"{name}.done"
    with locked(session / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def notebook_env():
    """Environment for a notebook run: Spark on loopback, workers on this Python."""
    return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}


def run_papermill(output_notebook, *parameters, env=None, kernel="python3", notebook=NOTEBOOK):
    """Execute the notebook (or a variant of it) with params/ci.yaml plus `-p name value` pairs; return the
    finished process."""
    command = [sys.executable, "-m", "papermill", str(notebook), str(output_notebook),
               "-k", kernel, "-f", str(CI_PARAMS_FILE), "--log-output"]
    for name, value in zip(parameters[::2], parameters[1::2]):
        command += ["-p", name, str(value)]
    return subprocess.run(command, cwd=REPO, env=env or notebook_env(), capture_output=True, text=True,
                          timeout=900)


def expect_success(process):
    """`process`, once it is known to have exited with 0; else the end of its stderr is the failure."""
    assert process.returncode == 0, process.stderr[-5000:]
    return process


def run_notebook(output_notebook, *parameters, env=None, kernel="python3"):
    """run_papermill, expecting the run to succeed."""
    return expect_success(run_papermill(output_notebook, *parameters, env=env, kernel=kernel))


def prepare_for_nbval(folder, kernel):
    """The notebook with the CI parameters for `kernel`, written into `folder` for nbval: the fixture
    paths are made absolute, as nbval runs the kernel in the notebook's folder."""
    prepared = folder / "featurize-ci.ipynb"
    subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(prepared), "--prepare-only",
                    "-k", kernel, "-f", str(CI_PARAMS_FILE),
                    "-p", "input_path", str(REPO / CI_PARAMS["input_path"]),
                    "-p", "weights", str(REPO / CI_PARAMS["weights"]),
                    "-p", "output_path", str(folder / "output")], check=True, cwd=REPO)
    return prepared


def expect_nbval_passes(prepared, kernel, env, *nbval_options):
    """Run nbval cell by cell on the prepared notebook in `kernel`, in its folder; expect it to pass. The
    options of the outer pytest (PYTEST_ADDOPTS: -n would spread the cells over processes) stay out."""
    env = {name: value for name, value in env.items() if name != "PYTEST_ADDOPTS"}
    process = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                              "--nbval-kernel-name", kernel, *nbval_options, str(prepared)],
                             cwd=prepared.parent, env=env, capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stdout[-5000:]
    assert " passed" in process.stdout and " failed" not in process.stdout


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


def explained_variance_by_numpy(features):
    """The share of the variance of each principal component of the features column, from numpy's SVD."""
    x = np.stack(features["features"]).astype(np.float64)
    singular = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    return singular ** 2 / (singular ** 2).sum()


def output_snapshot(output):
    """{relative path: (size, mtime)} of every file in an output folder."""
    return {str(p.relative_to(output)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in Path(output).rglob("*") if p.is_file()}


def free_loopback_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what, timeout=90):
    """Return once `condition()` is true; raise TimeoutError saying `what` did not happen in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout} s")
        time.sleep(0.3)
