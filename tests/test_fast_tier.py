"""The fast tier stays fast: it starts no Jupyter kernel and imports neither Keras nor TensorFlow,
in its own process or any process it starts (the notebook's definitions, which its tests execute,
import them only inside the functions that load and convert the model)."""

import json
import os
import subprocess
import sys
from collections import namedtuple

import pytest

from support.helpers import REPO

HEAVY_MODULES = ("keras", "tensorflow")
PROBE = REPO / "tests" / "support" / "probe"  # its sitecustomize.py records kernels and heavy imports

ProbedRun = namedtuple("ProbedRun", "process records")


def probed(command, records_folder, **run_options):
    """Run `command` with the probe in every Python process it starts; return (process, its records)."""
    records_folder.mkdir()
    python_path = os.pathsep.join(filter(None, [str(PROBE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "FAST_TIER_PROBE": str(records_folder)}
    process = subprocess.run(command, env=env, capture_output=True, text=True, **run_options)
    return ProbedRun(process, [json.loads(path.read_text()) for path in sorted(records_folder.iterdir())])


def test_the_notebooks_definitions_import_neither_keras_nor_tensorflow():
    code = ("import sys; from notebook_code import notebook_functions; notebook_functions(); "
            f"print(sorted(set({HEAVY_MODULES!r}) & set(sys.modules)))")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tools", capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.strip() == "[]", f"imported by the notebook's definitions: {process.stdout.strip()}"


def test_the_probe_records_a_kernel_and_a_keras_import(tmp_path):
    """Else the fast tier's empty records below would prove nothing."""
    fake_kernel = "import sys, types; sys.modules['keras'] = types.ModuleType('keras')"
    run = probed([sys.executable, "-c", fake_kernel, "ipykernel_launcher"], tmp_path / "records", timeout=60)
    assert run.process.returncode == 0, run.process.stderr
    assert sorted(record["kind"] for record in run.records) == ["import", "kernel"]
    assert [record["modules"] for record in run.records if record["kind"] == "import"] == [["keras"]]


@pytest.fixture(scope="module")
def fast_tier(tmp_path_factory):
    """The fast tier (pytest -m "not slow") run with the probe in each of its Python processes."""
    # One process (-n 0): the suite around it already keeps both cores busy.
    command = [sys.executable, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider", "-n", "0"]
    return probed(command, tmp_path_factory.mktemp("fast-tier") / "records", cwd=REPO, timeout=600)


@pytest.mark.slow  # runs the whole fast tier again
def test_the_fast_tier_passes(fast_tier):
    assert fast_tier.process.returncode == 0, fast_tier.process.stdout[-3000:]


@pytest.mark.slow  # runs the whole fast tier again
def test_the_fast_tier_starts_no_kernel(fast_tier):
    kernels = [(record["test"], record["argv"]) for record in fast_tier.records if record["kind"] == "kernel"]
    assert kernels == [], f"kernels started (test, command): {kernels}"


@pytest.mark.slow  # runs the whole fast tier again
def test_the_fast_tier_imports_neither_keras_nor_tensorflow(fast_tier):
    imports = [(record["test"], record["argv"], record["modules"]) for record in fast_tier.records
               if record["kind"] == "import"]
    assert imports == [], f"imported (test, or None for the whole pytest process; command; modules): {imports}"
