"""Shared fixtures: the inputs params/ci.yaml names, the notebook's functions, the hostile tree, and
the whole-notebook runs that several test modules read. Helpers are in support/helpers.py."""

import json
import shutil
import subprocess
import sys
from collections import namedtuple

import pytest
from PIL import Image

from support.colour_tree import write_colour_tree
from support.helpers import (CI_CLASSES, CI_PARAMS, CI_PER_CLASS, REPO, expect_nbval_passes, generators_digest, locked,
                             made_once, notebook_env, output_snapshot, prepare_for_nbval, run_notebook)
from support.hostile_tree import make_hostile_tree
from notebook_code import notebook_functions
from sample_images import make_sample


# The modules whose runs take longest, longest first (their fixtures' set-up on a fresh clone,
# 2026-12-06: 170 s to 70 s each). Started first, they do not leave one process working alone at
# the end while the others wait; the fast modules fill the gaps. Only the suite's time depends on it.
LONGEST_FIRST = ["test_rejects", "livy.test_pyspark_kernel", "test_probe", "test_notebook", "test_fidelity",
                 "aws.test_bootstrap_install", "test_standalone_cluster", "aws.test_s3", "test_fast_tier"]


def start_order(module, slow_modules):
    """Where a module starts: the longest runs first, then the other slow modules, then the fast."""
    if module in LONGEST_FIRST:
        return LONGEST_FIRST.index(module)
    return len(LONGEST_FIRST) + (0 if module in slow_modules else 1)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the test ids
def pytest_collection_modifyitems(items):
    """Keep each module's tests in one process of pytest-xdist (pytest.ini: --dist loadgroup), so
    that a module's own whole-notebook run is made once, not once per process, and start the modules
    in start_order (pytest.ini's --no-loadscope-reorder keeps it; xdist's default starts the modules
    with the most tests first). The runs that several modules read are made once per session
    whichever process asks first (support.helpers.made_once)."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: start_order(item.module.__name__, slow_modules))  # stable: a module's order kept
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def ci_inputs():
    """The fixture images and the calibrated weights file that params/ci.yaml names, made again
    whenever tools/sample_images.py or tools/fixture_weights.py have changed since they were made."""
    images, weights = REPO / CI_PARAMS["input_path"], REPO / CI_PARAMS["weights"]
    stamp = images.parent / "generators.sha256"
    digest = generators_digest()
    with locked(images.parent / "inputs.lock"):
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
    def run(folder):
        expect_nbval_passes(prepare_for_nbval(folder, "python3"), "python3", notebook_env())

    return made_once(tmp_path_factory, "ci-run", run) / "output"


ColoursRun = namedtuple("ColoursRun", "images output executed log neighbour neighbour_files_before")


@pytest.fixture(scope="session")
def colours_run(ci_inputs, tmp_path_factory):
    """A second run, with parameters given by -p: the flat-colour images (image_glob *.png) and a folder
    of one image, `lonely`; pca_k = "accuracy:0.01", three partitions, progress every 0.5 s. Its output
    folder is the sibling of an earlier run's folder (`neighbour`), whose name starts with the same
    text. Also gives what papermill logged (--log-output: what the cells printed) and the neighbour's
    files as they were before the run."""
    def run(folder):
        images = folder / "images"
        write_colour_tree(images)
        (images / "lonely").mkdir()
        Image.new("RGB", (64, 64), (120, 60, 160)).save(images / "lonely" / "0.png")
        neighbour = folder / "output"
        (neighbour / "features").mkdir(parents=True)
        for name in ("manifest.json", "pca_features.csv", "features/part-00000.parquet"):
            (neighbour / name).write_text(f"an earlier run's {name}")
        (folder / "neighbour_files_before.json").write_text(json.dumps(output_snapshot(neighbour)))
        process = run_notebook(folder / "executed.ipynb", "input_path", images, "output_path", folder / "output-b",
                               "image_glob", "*.png", "pca_k", "accuracy:0.01", "num_partitions", 3,
                               "progress_seconds", 0.5)
        (folder / "log.txt").write_text(process.stderr)

    folder = made_once(tmp_path_factory, "colours-run", run)
    files_before = json.loads((folder / "neighbour_files_before.json").read_text())
    return ColoursRun(folder / "images", folder / "output-b", folder / "executed.ipynb", (folder / "log.txt").read_text(),
                      folder / "output", {path: tuple(stat) for path, stat in files_before.items()})


@pytest.fixture(scope="session")
def local_spark():
    """A small local Spark session for the notebook's Spark functions (two cores, two shuffle partitions)."""
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", 2).getOrCreate())
