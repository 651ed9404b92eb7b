"""A cluster before the cluster: the notebook against a Spark standalone cluster on loopback, a
master and two workers started with pyspark's own launch script (bin/spark-class; the pyspark wheel
has no sbin/start-master.sh), each worker a separate JVM whose executor has its own Python workers.
What only works in local mode (closures reaching driver globals, driver-only files, a model not
built on the workers) fails here. One worker is stopped while it featurizes, as a reclaimed spot node
would be: the run must still account for every file, once."""

import contextlib
import re
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pyspark
import pytest

from support.contract import assert_output_contract
from support.helpers import (CI_CLASSES, CI_PARAMS, cell_output, expect_success, free_loopback_port, notebook_env,
                     read_output, run_papermill, wait_for)
from sample_images import FRUITS

pytestmark = pytest.mark.slow

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"
WORKERS = 2


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """spark://127.0.0.1:PORT with two registered workers (1 core, 1 GiB each); their work folders and
    their processes."""
    folder = tmp_path_factory.mktemp("standalone")
    port = free_loopback_port()
    master_url = f"spark://127.0.0.1:{port}"
    env = {**notebook_env(), "SPARK_LOG_DIR": str(folder / "logs")}
    daemons = []

    def start(name, *args):
        log = open(folder / f"{name}.log", "w")
        daemons.append(subprocess.Popen([str(SPARK_CLASS), *args], stdout=log, stderr=subprocess.STDOUT, env=env))
        return folder / f"{name}.log"

    master_log = start("master", "org.apache.spark.deploy.master.Master",
                       "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0")
    work_dirs = [folder / f"worker-{i}" for i in range(WORKERS)]
    for i, work_dir in enumerate(work_dirs):
        start(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
              "--cores", "1", "--memory", "1g", "--webui-port", "0", "--work-dir", str(work_dir))
    try:
        wait_for(lambda: master_log.read_text().count("Registering worker") == WORKERS,
                 f"{WORKERS} workers not registered with {master_url} (see {folder})")
        yield master_url, work_dirs, daemons[1:]
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            daemon.wait(timeout=60)


def command_line(process):
    """`process`'s command line; empty for one that has ended, or is a zombie (it has none left)."""
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # ZombieProcess included: the worker JVM may leave one unreaped
        return ""


def stop_when_it_runs_python(worker, stopped, run_ended):
    """Kill `worker` (its JVM, its executor's JVM and Python workers, with SIGKILL: a reclaimed spot
    node gets no say) as soon as its executor runs a Python worker, which only a task of the
    featurization or a later step starts; set `stopped` once done. Give up when `run_ended` is set."""
    while not run_ended.is_set() and worker.poll() is None:
        try:
            tree = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
            if any("pyspark.daemon" in command_line(process) for process in tree[1:]):
                for process in tree:
                    with contextlib.suppress(psutil.NoSuchProcess):  # a Python worker may end on its own
                        process.kill()
                stopped.set()
                return
        except psutil.NoSuchProcess:  # the worker ended while its tree was being read
            pass
        time.sleep(0.1)


@pytest.fixture(scope="module")
def standalone_run(standalone_cluster, ci_inputs, tmp_path_factory):
    """The notebook on the cluster, the linear probe off; the second worker is stopped mid-featurization."""
    master_url, _, workers = standalone_cluster
    output = tmp_path_factory.mktemp("standalone-run")
    stopped, run_ended = threading.Event(), threading.Event()
    killer = threading.Thread(target=stop_when_it_runs_python, args=(workers[1], stopped, run_ended), daemon=True)
    killer.start()
    # The linear probe off: its fits are Spark ML and SQL, with no code of ours on the executors, so a
    # cluster tests nothing of it that local mode does not (the other whole runs have it).
    process = run_papermill(output / "executed.ipynb", "output_path", output, "spark_master", master_url,
                            "probe_test_fraction", 0)
    run_ended.set()
    killer.join()
    expect_success(process)
    assert stopped.is_set(), "the second worker never ran a Python worker, so it was not stopped"
    return output


def test_notebook_on_a_two_worker_standalone_cluster_meets_the_output_contract(standalone_run, ci_inputs):
    images, _ = ci_inputs
    relative = [str(path.relative_to(images)) for path in images.rglob("*.jpg")]
    assert_output_contract(pd.read_parquet(standalone_run / "features"),
                           pd.read_csv(standalone_run / "pca_features.csv"),
                           f"file:{images}", relative, list(FRUITS)[:CI_CLASSES], CI_PARAMS["pca_k"])


def test_each_worker_jvm_ran_an_executor_of_the_run(standalone_cluster, standalone_run):
    master_url, work_dirs, _ = standalone_cluster
    executed = standalone_run / "executed.ipynb"
    assert cell_output(executed, r"master (\S+),").group(1) == master_url
    application = cell_output(executed, r"application (app-\S+)").group(1)
    for work_dir in work_dirs:
        assert (work_dir / application).is_dir() and any((work_dir / application).iterdir()), \
            f"no executor of {application} on the worker of {work_dir}"


def test_model_is_built_on_the_workers_once_per_python_worker(standalone_run):
    assert CI_PARAMS["num_partitions"] > WORKERS  # more partitions than Python workers
    assert 1 <= read_output(standalone_run)[0]["model_builds"] <= WORKERS


def test_a_worker_lost_mid_featurization_loses_no_file_and_duplicates_none(standalone_cluster, standalone_run):
    _, work_dirs, _ = standalone_cluster
    application = cell_output(standalone_run / "executed.ipynb", r"application (app-\S+)").group(1)
    # The stopped worker's executor had started a task that it never finished: its work was lost.
    executor_log = "".join(log.read_text() for log in (work_dirs[1] / application).glob("*/stderr"))
    started = set(re.findall(r"Running task \S+ in stage \S+ \(TID (\d+)\)", executor_log))
    finished = set(re.findall(r"Finished task \S+ in stage \S+ \(TID (\d+)\)", executor_log))
    assert started - finished, f"no task was lost with the stopped worker (see {work_dirs[1] / application})"
    manifest, features = read_output(standalone_run)
    counts = manifest["counts"]
    rejected = pd.read_parquet(standalone_run / "rejected")
    assert counts["found"] == counts["featurized"] + counts["rejected"] == len(features) + len(rejected)
    assert not features["path"].duplicated().any() and not rejected["path"].duplicated().any()
    assert manifest["cluster"] == {"platform": "local", "cluster_id": None, "instance_groups": []}
