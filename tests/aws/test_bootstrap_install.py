"""bootstrap/install-packages.sh, the bootstrap action of every node, into fresh virtual
environments: the primary node's lock from the package index (its weights file copied from S3, that
is moto), a core node's lock from a wheelhouse with no package index, and an unpinned lock refused."""

import hashlib
import os
import json
import subprocess
import sys
import venv

import pytest

from support.emr_scripts import make_bucket, put_object, run_script
from support.helpers import REPO
from support.lockfile import lock_pins, normalized

LOCK_ARGS = ["--requirements", REPO / "requirements.lock", "--worker-requirements", REPO / "requirements-worker.lock"]
WEIGHTS = "s3://bootstrap-models/mobilenet/weights.h5"


@pytest.fixture(scope="module")
def bootstrapped_venv(moto, tmp_path_factory):
    """A fresh virtual environment into which the bootstrap installed the primary node's package set
    from the package index, copying a weights file from S3 on a node that instance.json says is the
    primary."""
    folder = tmp_path_factory.mktemp("bootstrap")
    venv.create(folder / "venv", with_pip=True)
    make_bucket(moto, "bootstrap-models")
    put_object(moto, WEIGHTS, b"weights")
    instance = folder / "instance.json"
    instance.write_text('{"isMaster": true, "instanceGroupId": "ig-PRIMARY"}')
    python = folder / "venv" / "bin" / "python"
    # pip reaches the package index as it does without the refusing proxy (aws calls go to moto anyway).
    # PIP_COMPILE=0, pip's --no-compile: no byte-compiling of the installed files, which a node does
    # and this test does not check (20 of pip's 60 s here; the imports below compile what they use).
    env = {**moto.environment(folder), "PYTHON": str(python), "WEIGHTS_DIR": str(folder / "models"),
           "EMR_INSTANCE_INFO": str(instance), "PIP_COMPILE": "0"}
    for variable in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]:
        env.pop(variable)
    process = run_script("install-packages.sh", *LOCK_ARGS, "--weights", WEIGHTS, env=env)
    return folder, python, process


def installed_distributions(python):
    """{name: version} of every distribution in an environment."""
    report = subprocess.run([str(python), "-c", "import importlib.metadata as m, json; "
                             "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"],
                            capture_output=True, text=True, check=True)
    return {normalized(name): version for name, version in json.loads(report.stdout).items()}


@pytest.mark.slow  # installs the whole lock into a fresh environment
def test_bootstrap_installs_the_whole_lock_except_pyspark_on_the_primary_node_and_imports_it(bootstrapped_venv):
    _, python, process = bootstrapped_venv
    assert process.returncode == 0, process.stderr[-5000:]
    pins = {name: version for name, version in lock_pins("requirements.lock").items() if name != "pyspark"}
    installed = installed_distributions(python)
    assert {name: installed.get(name) for name in pins} == pins
    imports = subprocess.run([str(python), "-c", "import keras, tensorflow, tf2onnx, PIL, s3fs, pyarrow, papermill"],
                             capture_output=True, text=True)
    assert imports.returncode == 0, imports.stderr[-3000:]
    assert f"OK: {len(pins)} locked packages installed and checked" in process.stderr


@pytest.mark.slow  # installs the whole lock into a fresh environment
def test_bootstrap_leaves_pyspark_to_emr(bootstrapped_venv):
    _, python, _ = bootstrapped_venv
    assert subprocess.run([str(python), "-c", "import pyspark"], capture_output=True).returncode != 0


@pytest.mark.slow  # installs the whole lock into a fresh environment
def test_bootstrap_copies_the_weights_file_from_s3_and_registers_the_kernel_on_the_primary_node(bootstrapped_venv):
    folder, python, process = bootstrapped_venv
    assert (folder / "models" / "weights.h5").read_text() == "weights"
    kernel = json.loads((folder / "venv" / "share" / "jupyter" / "kernels" / "python3" / "kernel.json").read_text())
    assert kernel["argv"][0] == str(python)
    assert "primary: yes" in process.stderr and f"weights: {folder / 'models' / 'weights.h5'}" in process.stderr


@pytest.fixture(scope="session")
def worker_wheelhouse():
    """The workers' wheels as `make wheelhouse` downloads them for EMR's platform, kept in build/ per
    content of requirements-worker.lock: downloaded once, not on every run."""
    key = hashlib.sha256((REPO / "requirements-worker.lock").read_bytes()).hexdigest()[:16]
    folder = REPO / "build" / "test-wheelhouse" / key
    process = subprocess.run(["make", "--no-print-directory", f"WHEELHOUSE={folder}", f"{folder}/worker/.done"],
                             cwd=REPO, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return folder


@pytest.mark.slow  # installs the workers' lock into a fresh environment
def test_bootstrap_installs_only_the_worker_lock_on_a_core_node_from_the_wheelhouse_without_an_index(
        worker_wheelhouse, tmp_path):
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    instance = tmp_path / "instance.json"
    instance.write_text('{"isMaster": false, "instanceGroupId": "ig-CORE"}')
    unreachable = "http://127.0.0.1:9/simple"  # nothing listens there: a private subnet without internet
    process = run_script("install-packages.sh", *LOCK_ARGS, "--wheelhouse", worker_wheelhouse,
                         env={**os.environ, "PYTHON": str(python), "EMR_INSTANCE_INFO": str(instance),
                              "PIP_INDEX_URL": unreachable, "PIP_EXTRA_INDEX_URL": unreachable})
    assert process.returncode == 0, process.stderr[-5000:]
    pins = lock_pins("requirements-worker.lock")
    installed = installed_distributions(python)
    venv_own = {"pip", "setuptools"}  # what venv puts into a Python 3.11 environment
    assert {name: version for name, version in installed.items() if name not in venv_own} == pins  # no TensorFlow
    assert f"from {worker_wheelhouse}/worker, without an index" in process.stderr
    assert f"OK: {len(pins)} locked packages installed and checked" in process.stderr
    assert "primary: no" in process.stderr


def test_bootstrap_fails_the_node_on_an_unpinned_requirement(tmp_path):
    requirements = tmp_path / "requirements.lock"
    requirements.write_text("numpy==1.26.4 \\\n    --hash=sha256:0123\npandas>=2\n")
    process = run_script("install-packages.sh", "--requirements", requirements, "--worker-requirements", requirements,
                         env={**os.environ, "PYTHON": sys.executable})
    assert process.returncode != 0
    assert "unpinned requirements" in process.stderr and "pandas>=2" in process.stderr
