"""Shared fixtures: the inputs params/ci.yaml names, the notebook's functions, the hostile tree, and
the whole-notebook runs that several test modules read. Helpers are in support/helpers.py."""

import shutil
import subprocess
import sys
from collections import namedtuple

import pytest

from support.colour_tree import write_colour_tree
from support.helpers import (CI_CLASSES, CI_PARAMS, CI_PER_CLASS, REPO, expect_nbval_passes, generators_digest, notebook_env,
                             output_snapshot, prepare_for_nbval, run_notebook)
from support.hostile_tree import make_hostile_tree
from notebook_code import notebook_functions
from sample_images import make_sample

# Fixtures whose run several modules read: their modules share one xdist process (below).
SHARED_RUNS = {"ci_run", "colours_run"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the test ids
def pytest_collection_modifyitems(items):
    """Keep each module's tests in one process of pytest-xdist (pytest.ini: -n 2 --dist loadgroup), so
    that a module's whole-notebook run is made once, not once per process; the modules that read the
    session's shared runs go together, as one group."""
    sharing = {item.module.__name__ for item in items if SHARED_RUNS & set(item.fixturenames)}
    for item in items:
        module = item.module.__name__
        item.add_marker(pytest.mark.xdist_group("shared-runs" if module in sharing else module))


@pytest.fixture(scope="session")
def ci_inputs():
    """The fixture images and the calibrated weights file that params/ci.yaml names, made again
    whenever tools/sample_images.py or tools/fixture_weights.py have changed since they were made."""
    images, weights = REPO / CI_PARAMS["input_path"], REPO / CI_PARAMS["weights"]
    stamp = images.parent / "generators.sha256"
    digest = generators_digest()
    if not (stamp.is_file() and stamp.read_text() == digest and images.is_dir() and weights.is_file()):
        shutil.rmtree(images, ignore_errors=True)
        make_sample(images, per_class=CI_PER_CLASS, classes=CI_CLASSES)
        subprocess.run([sys.executable, str(REPO / "tools" / "fixture_weights.py"), str(weights)], check=True)
        stamp.write_text(digest)
    return images, weights


@pytest.fixture(scope="session")
def notebook():
    """The notebook's own definitions (functions, classes, constants), executed from its cells."""
    return notebook_functions()


@pytest.fixture(scope="session")
def hostile_tree(tmp_path_factory):
    """(root, {relative path: expected outcome}) of the tree of unusual, broken and skipped files."""
    root = tmp_path_factory.mktemp("hostile") / "images"
    return root, make_hostile_tree(root)


@pytest.fixture(scope="session")
def ci_run(ci_inputs, tmp_path_factory):
    """The notebook with params/ci.yaml run cell by cell under nbval in the python3 kernel, which checks
    the cells whose outputs the notebook keeps: the output folder it wrote, which several modules read."""
    folder = tmp_path_factory.mktemp("ci-run")
    expect_nbval_passes(prepare_for_nbval(folder, "python3"), "python3", notebook_env())
    return folder / "output"


ColoursRun = namedtuple("ColoursRun", "images output executed process ci_files_before")


@pytest.fixture(scope="session")
def colours_run(ci_run, tmp_path_factory):
    """A second run, with parameters given by -p: the flat-colour images (image_glob *.png), pca_k as
    the variance fraction 0.95, three partitions, progress every 0.5 s, the linear probe off, into a
    sibling of ci_run's folder whose name starts with the same text. Also gives ci_run's files as they
    were before it."""
    images = tmp_path_factory.mktemp("colours") / "images"
    write_colour_tree(images)
    ci_files_before = output_snapshot(ci_run)
    output, executed = ci_run.parent / f"{ci_run.name}-b", tmp_path_factory.mktemp("colours-run") / "executed.ipynb"
    process = run_notebook(executed, "input_path", images, "output_path", output, "image_glob", "*.png",
                           "pca_k", 0.95, "num_partitions", 3, "progress_seconds", 0.5, "probe_test_fraction", 0)
    return ColoursRun(images, output, executed, process, ci_files_before)


@pytest.fixture(scope="session")
def local_spark():
    """A small local Spark session for the notebook's Spark functions (two cores, two shuffle partitions)."""
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", 2).getOrCreate())
