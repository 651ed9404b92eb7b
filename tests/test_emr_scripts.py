"""The EMR scripts in bootstrap/: shellcheck, the Configurations JSON, the AWS CLI calls they make
(against a stub `aws`, tests/support/aws_stub.py) and the bootstrap's package sets in fresh environments:
the primary node's from the package index, a core node's from a wheelhouse without an index."""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import pytest

from support.aws_stub import CLUSTER_ID, STEP_ID, aws_calls, install_aws_stub, option, stub_answers, stub_s3_object
from support.helpers import REPO
from support.lockfile import lock_pins, normalized

BOOTSTRAP = REPO / "bootstrap"
PROJECT = "s3://my-bucket/fruits-featurize"
SCRIPTS = ["install-packages.sh", "emr-cluster.sh", "create-cluster.sh", "upload.sh", "run-notebook.sh",
           "submit-run.sh", "run-on-emr.sh"]
LOCK_ARGS = ["--requirements", REPO / "requirements.lock", "--worker-requirements", REPO / "requirements-worker.lock"]
# Configuration classifications of EMR 7.x used here (Release Guide, "Configure applications":
# https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-configure-apps.html).
EMR_CLASSIFICATIONS = {"spark", "spark-defaults", "spark-env", "export", "livy-conf", "jupyter-s3-conf",
                       "jupyter-sparkmagic-conf"}


def run_script(name, *args, stub=None, env=None):
    """Run bootstrap/<name> from outside the project (users run it from anywhere) with the stub `aws`
    first on PATH; return the finished process."""
    path = f"{stub}{os.pathsep}{os.environ['PATH']}" if stub else os.environ["PATH"]
    return subprocess.run(["bash", str(BOOTSTRAP / name), *map(str, args)], cwd=tempfile.gettempdir(),
                          capture_output=True,
                          text=True, env={**os.environ, "PATH": path, **(env or {})}, timeout=600)


@pytest.fixture
def aws_stub(tmp_path):
    """A stub `aws` whose S3 already holds the uploaded bootstrap, as after bootstrap/upload.sh."""
    folder = install_aws_stub(tmp_path / "aws-stub")
    stub_s3_object(folder, f"{PROJECT}/bootstrap/install-packages.sh")
    return folder


def configurations():
    return json.loads((BOOTSTRAP / "configurations.json").read_text())


def classification(items, name):
    matches = [item for item in items if item["Classification"] == name]
    assert len(matches) == 1, f"{name}: {len(matches)} entries"
    return matches[0]


# --- static checks -------------------------------------------------------------------------------

def test_every_script_is_shellcheck_clean_and_strict():
    scripts = [BOOTSTRAP / name for name in SCRIPTS]
    process = subprocess.run([str(Path(sys.executable).parent / "shellcheck"), "--external-sources",
                              *map(str, scripts)],
                             capture_output=True, text=True)
    assert process.returncode == 0, process.stdout
    for script in scripts:
        lines = script.read_text().splitlines()
        assert lines[0] == "#!/bin/bash" and "set -euo pipefail" in lines, script.name


def test_configurations_json_is_a_list_of_emr_classifications_with_string_properties():
    def check(items):
        assert isinstance(items, list) and items
        for item in items:
            assert set(item) <= {"Classification", "Properties", "Configurations"}, item
            assert item["Classification"] in EMR_CLASSIFICATIONS, item["Classification"]
            assert all(isinstance(key, str) and isinstance(value, str)
                       for key, value in item.get("Properties", {}).items()), item
            if "Configurations" in item:
                check(item["Configurations"])

    check(configurations())


def test_executors_drivers_and_livy_sessions_run_python_3_11():
    spark_defaults = classification(configurations(), "spark-defaults")["Properties"]
    spark_env = classification(classification(configurations(), "spark-env")["Configurations"], "export")
    assert spark_defaults["spark.pyspark.python"] == spark_defaults["spark.pyspark.driver.python"] == "/usr/bin/python3.11"
    assert spark_env["Properties"]["PYSPARK_PYTHON"] == "/usr/bin/python3.11"


def test_arrow_batches_and_executor_sizing_for_the_featurizer():
    spark_defaults = classification(configurations(), "spark-defaults")["Properties"]
    assert spark_defaults["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert int(spark_defaults["spark.sql.execution.arrow.maxRecordsPerBatch"]) > 0
    # Two executors fill one recommended core node (m5.2xlarge: 8 vCPUs, 24 GiB for YARN).
    memory = sum(int(spark_defaults[key].rstrip("g")) for key in
                 ["spark.executor.memory", "spark.executor.memoryOverhead"])
    assert 2 * int(spark_defaults["spark.executor.cores"]) == 8 and 2 * memory <= 24


def test_livy_ends_a_forgotten_session_within_an_hour_and_runs_its_driver_on_the_primary():
    livy = classification(configurations(), "livy-conf")["Properties"]
    # An open session is a YARN application, so the cluster is never idle while it lives.
    timeout = livy["livy.server.session.timeout"]
    assert re.fullmatch(r"\d+[hm]", timeout) and int(timeout[:-1]) * (60 if timeout[-1] == "h" else 1) <= 60, timeout
    # Client mode: the session's driver runs beside Livy on the primary, not in a core node's container.
    assert livy["livy.spark.deploy-mode"] == "client"


def test_jupyterhub_keeps_notebooks_in_s3():
    s3 = classification(configurations(), "jupyter-s3-conf")["Properties"]
    assert s3 == {"s3.persistence.enabled": "true", "s3.persistence.bucket": "YOUR-BUCKET"}


def test_notebook_names_no_s3_endpoint():
    # Endpoints come from the environment (AWS_ENDPOINT_URL*, Spark's fs.s3a.endpoint), as for any user.
    source = (REPO / "notebooks" / "featurize.ipynb").read_text().lower()
    assert "endpoint" not in source and "127.0.0.1" not in source and "localhost" not in source


# --- create-cluster.sh ---------------------------------------------------------------------------

def test_create_cluster_passes_release_applications_bootstrap_configuration_logs_and_auto_termination(aws_stub):
    process = run_script("create-cluster.sh", PROJECT, stub=aws_stub)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == CLUSTER_ID
    call = [c for c in aws_calls(aws_stub) if c["args"][:2] == ["emr", "create-cluster"]][0]
    args = call["args"]
    assert option(args, "--release-label") == "emr-7.10.0"
    applications = args[args.index("--applications") + 1:args.index("--applications") + 5]
    assert sorted(applications) == ["Name=Hadoop", "Name=JupyterHub", "Name=Livy", "Name=Spark"]
    assert option(args, "--auto-termination-policy") == "IdleTimeout=900"  # 15 minutes idle
    assert "--auto-terminate" not in args and "--steps" not in args  # interactive: it waits for work
    assert option(args, "--log-uri") == f"{PROJECT}/logs/"
    assert option(args, "--bootstrap-actions") == (
        f"Path={PROJECT}/bootstrap/install-packages.sh,Name=install-python-packages,"
        f"Args=[--requirements,{PROJECT}/requirements.lock,--worker-requirements,{PROJECT}/requirements-worker.lock]")
    assert option(args, "--region") == "eu-west-1"
    # The primary holds every driver (Livy's in client mode too): 32 GiB, on demand.
    assert args[args.index("--instance-groups") + 1] == \
        "InstanceGroupType=MASTER,InstanceCount=1,InstanceType=m5.2xlarge,Market=ON_DEMAND"
    assert "InstanceCount=4,InstanceType=m5.2xlarge" in args[args.index("--instance-groups") + 2]
    sent = json.loads(call["files"][option(args, "--configurations")])
    expected = json.loads((BOOTSTRAP / "configurations.json").read_text().replace("YOUR-BUCKET", "my-bucket"))
    assert sent == expected


def test_create_cluster_options_set_region_instances_timeout_wheelhouse_and_weights(aws_stub):
    stub_s3_object(aws_stub, f"{PROJECT}/wheelhouse/worker/numpy-1.26.4-cp311-cp311-manylinux2014_x86_64.whl")
    process = run_script("create-cluster.sh", PROJECT, "--region", "us-east-1", "--core-type", "c5.4xlarge",
                         "--core-count", "2", "--idle-timeout", "1800", "--weights", "s3://my-bucket/w.h5",
                         "--wheelhouse", f"{PROJECT}/wheelhouse/", stub=aws_stub)
    assert process.returncode == 0, process.stderr
    args = [c for c in aws_calls(aws_stub) if c["args"][:2] == ["emr", "create-cluster"]][0]["args"]
    assert option(args, "--region") == "us-east-1"
    assert option(args, "--auto-termination-policy") == "IdleTimeout=1800"
    assert "InstanceCount=2,InstanceType=c5.4xlarge" in args[args.index("--instance-groups") + 2]
    assert option(args, "--bootstrap-actions").endswith(
        f"Args=[--requirements,{PROJECT}/requirements.lock,--worker-requirements,{PROJECT}/requirements-worker.lock,"
        f"--wheelhouse,{PROJECT}/wheelhouse,--weights,s3://my-bucket/w.h5]")


def test_create_cluster_stops_before_creating_anything_when_the_wheelhouse_is_not_uploaded(aws_stub):
    process = run_script("create-cluster.sh", PROJECT, "--wheelhouse", f"{PROJECT}/wheelhouse", stub=aws_stub)
    assert process.returncode != 0
    assert f"run make wheelhouse, then bootstrap/upload.sh {PROJECT} --wheelhouse" in process.stderr
    assert not [c for c in aws_calls(aws_stub) if c["args"][:2] == ["emr", "create-cluster"]]


def test_create_cluster_stops_before_creating_anything_when_the_bootstrap_is_not_uploaded(tmp_path):
    stub = install_aws_stub(tmp_path / "empty-s3")
    process = run_script("create-cluster.sh", PROJECT, stub=stub)
    assert process.returncode != 0
    assert f"run bootstrap/upload.sh {PROJECT} first" in process.stderr
    assert not [c for c in aws_calls(stub) if c["args"][:2] == ["emr", "create-cluster"]]


@pytest.mark.parametrize("idle_timeout", ["0", "59", "604801", "never"])
def test_create_cluster_refuses_an_idle_timeout_emr_would_not_apply(aws_stub, idle_timeout):
    process = run_script("create-cluster.sh", PROJECT, "--idle-timeout", idle_timeout, stub=aws_stub)
    assert process.returncode != 0 and "--idle-timeout must be 60 to 604800 seconds" in process.stderr
    assert not aws_calls(aws_stub)


# --- upload.sh and submit-run.sh -----------------------------------------------------------------

def test_upload_copies_notebook_params_locks_and_bootstrap_to_the_project_prefix(aws_stub):
    process = run_script("upload.sh", PROJECT, stub=aws_stub)
    assert process.returncode == 0, process.stderr
    targets = {c["args"][-1] for c in aws_calls(aws_stub) if c["args"][:2] == ["s3", "cp"]}
    expected = {f"{PROJECT}/{path}" for path in [
        "notebooks/featurize.ipynb", "requirements.lock", "requirements-worker.lock",
        "bootstrap/install-packages.sh", "bootstrap/run-notebook.sh", "bootstrap/configurations.json"]}
    expected |= {f"{PROJECT}/params/{p.name}" for p in (REPO / "params").glob("*.yaml")}
    assert targets == expected
    assert not [c for c in aws_calls(aws_stub) if c["args"][:2] == ["s3", "sync"]]


def test_upload_with_wheelhouse_copies_each_nodes_wheels_next_to_the_bootstrap(aws_stub, tmp_path):
    for package_set in ["primary", "worker"]:
        (tmp_path / package_set).mkdir()
        (tmp_path / package_set / f"{package_set}-1.0-py3-none-any.whl").write_text(package_set)
        (tmp_path / package_set / ".done").touch()
    process = run_script("upload.sh", PROJECT, "--wheelhouse", stub=aws_stub, env={"WHEELHOUSE": str(tmp_path)})
    assert process.returncode == 0, process.stderr
    syncs = [c["args"] for c in aws_calls(aws_stub) if c["args"][:2] == ["s3", "sync"]]
    assert [args[-2:] for args in syncs] == [[str(tmp_path / "primary"), f"{PROJECT}/wheelhouse/primary"],
                                             [str(tmp_path / "worker"), f"{PROJECT}/wheelhouse/worker"]]
    assert all("--delete" in args for args in syncs)
    uploaded = aws_stub / "s3" / PROJECT[len("s3://"):] / "wheelhouse" / "worker" / "worker-1.0-py3-none-any.whl"
    assert uploaded.read_text() == "worker"


def test_upload_with_wheelhouse_stops_when_make_wheelhouse_has_not_run(aws_stub, tmp_path):
    process = run_script("upload.sh", PROJECT, "--wheelhouse", stub=aws_stub, env={"WHEELHOUSE": str(tmp_path)})
    assert process.returncode != 0 and "run make wheelhouse first" in process.stderr
    assert not [c for c in aws_calls(aws_stub) if c["args"][:2] == ["s3", "sync"]]


def test_submit_run_adds_a_step_running_run_notebook_with_the_papermill_options_verbatim(aws_stub):
    process = run_script("submit-run.sh", CLUSTER_ID, PROJECT, "-p", "output_path", "s3://my-bucket/out 2",
                         "-p", "image_glob", '*"odd".jpg', stub=aws_stub)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == STEP_ID
    args = [c for c in aws_calls(aws_stub) if c["args"][:2] == ["emr", "add-steps"]][0]["args"]
    assert option(args, "--cluster-id") == CLUSTER_ID
    [step] = json.loads(option(args, "--steps"))
    assert step["Jar"] == "command-runner.jar" and step["ActionOnFailure"] == "CONTINUE"
    bash, dash_c, script, name, project, executed, *papermill = step["Args"]
    assert (bash, dash_c, name, project) == ("bash", "-c", "run-notebook", PROJECT)
    assert '"$1/bootstrap/run-notebook.sh"' in script
    assert re.fullmatch(rf"{PROJECT}/runs/\d{{8}}T\d{{6}}Z/featurize.ipynb", executed)
    assert papermill == ["-p", "output_path", "s3://my-bucket/out 2", "-p", "image_glob", '*"odd".jpg']


def test_run_notebook_fails_the_step_when_a_cell_fails(ci_inputs, tmp_path):
    images, _ = ci_inputs
    executed = tmp_path / "executed.ipynb"
    # The project from this folder instead of S3; a bad parameter stops the notebook in step 2.
    process = run_script("run-notebook.sh", REPO, executed, "-p", "input_path", images,
                         "-p", "output_path", tmp_path / "out", "-p", "pca_k", "0",
                         env={"PYTHON": sys.executable, "AWS_EC2_METADATA_DISABLED": "true"})
    assert process.returncode != 0
    assert "parameter pca_k = 0 is not accepted" in process.stderr
    assert f"the notebook stopped with an error: open {executed}" in process.stderr
    assert executed.is_file()


def test_run_notebook_refuses_to_run_on_a_core_node(tmp_path):
    instance = tmp_path / "instance.json"
    instance.write_text('{"isMaster": false, "instanceGroupId": "ig-CORE"}')
    process = run_script("run-notebook.sh", PROJECT, f"{PROJECT}/runs/x/featurize.ipynb",
                         env={"EMR_INSTANCE_INFO": str(instance), "PYTHON": sys.executable})
    assert process.returncode != 0 and "not the primary node" in process.stderr


# --- run-on-emr.sh ------------------------------------------------------------------------------

def cluster_creations(stub):
    return [c for c in aws_calls(stub) if c["args"][:2] == ["emr", "create-cluster"]]


def run_on_emr(stub, *args, env=None):
    return run_script("run-on-emr.sh", PROJECT, *args, stub=stub, env={"POLL_SECONDS": "0", **(env or {})})


def test_run_on_emr_uploads_then_creates_a_transient_single_node_cluster_whose_only_step_is_the_run(aws_stub):
    process = run_on_emr(aws_stub, "--images", "90000", "-p", "input_path", "s3://my-bucket/fruits",
                         "-p", "output_path", "s3://my-bucket/out 1", "-p", "pca_k", "50")
    assert process.returncode == 0, process.stderr
    calls = [c["args"] for c in aws_calls(aws_stub)]
    uploaded = [i for i, args in enumerate(calls) if args[:2] == ["s3", "cp"]
                and args[-1] == f"{PROJECT}/notebooks/featurize.ipynb"]
    [creation] = cluster_creations(aws_stub)
    assert uploaded and uploaded[0] < calls.index(creation["args"])
    args = creation["args"]
    # Transient: ends with its step, success or failure; no idle policy, no keep-alive.
    assert "--auto-terminate" in args
    assert not {"--auto-termination-policy", "--no-auto-terminate"} & set(args)
    # 90,000 images: one m5.2xlarge on demand is the whole cluster (YARN runs the executors on it).
    groups = args[args.index("--instance-groups") + 1:args.index("--service-role")]
    assert groups == ["InstanceGroupType=MASTER,InstanceCount=1,InstanceType=m5.2xlarge,Market=ON_DEMAND"]
    assert option(args, "--release-label") == "emr-7.10.0"
    assert option(args, "--bootstrap-actions").startswith(f"Path={PROJECT}/bootstrap/install-packages.sh,")
    [step] = json.loads(creation["files"][option(args, "--steps")])
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER" and step["Jar"] == "command-runner.jar"
    bash, dash_c, script, name, project, executed, *papermill = step["Args"]
    assert (bash, dash_c, name, project) == ("bash", "-c", "run-notebook", PROJECT)
    assert re.fullmatch(rf"{PROJECT}/runs/\d{{8}}T\d{{6}}Z/featurize.ipynb", executed)
    # 3 partitions per executor vCPU, then the user's parameters verbatim, then a per-cell time limit.
    assert papermill[:8] == ["-p", "num_partitions", "24", "-p", "input_path", "s3://my-bucket/fruits",
                             "-p", "output_path"]
    assert papermill[8:12] == ["s3://my-bucket/out 1", "-p", "pca_k", "50"]
    assert papermill[12] == "--execution-timeout" and int(papermill[13]) >= 3600
    # The report: the step's result, where the outputs are, billed time from the timeline, the cost.
    assert "step: COMPLETED" in process.stdout
    assert f"executed notebook: {executed}" in process.stdout
    assert "manifest: s3://my-bucket/out 1/manifest.json" in process.stdout
    assert "billed: 20 min 30 s" in process.stdout
    # 1230 s x (0.428 + 0.096) $/h, the prices of bootstrap/prices.tsv.
    assert "estimated cost: $0.179" in process.stdout


def test_run_on_emr_with_spot_puts_a_single_node_on_spot_and_costs_less(aws_stub):
    process = run_on_emr(aws_stub, "--images", "90000", "--spot", "-p", "input_path", "s3://my-bucket/fruits",
                         "-p", "output_path", "s3://my-bucket/out")
    assert process.returncode == 0, process.stderr
    args = cluster_creations(aws_stub)[0]["args"]
    assert args[args.index("--instance-groups") + 1].endswith("InstanceType=m5.2xlarge,Market=SPOT")
    assert "estimated cost: $0.091" in process.stdout  # 1230 s x (0.171 + 0.096) $/h


def test_run_on_emr_reports_a_failed_step_and_says_where_to_look(aws_stub):
    stub_answers(aws_stub, {"Steps[0].Status.State": "FAILED",
                            "Cluster.Status.StateChangeReason.Message": "Shut down as step failed"})
    process = run_on_emr(aws_stub, "--images", "500", "-p", "input_path", "s3://my-bucket/fruits",
                         "-p", "output_path", "s3://my-bucket/out")
    assert process.returncode != 0
    assert "step: FAILED" in process.stdout and "billed: 20 min 30 s" in process.stdout
    assert "Shut down as step failed" in process.stderr and "(the failing cell)" in process.stderr


def test_run_on_emr_counts_the_images_under_input_path(aws_stub):
    for i in range(7):
        stub_s3_object(aws_stub, f"s3://my-bucket/fruits/Apple/{i}.jpg")
    process = run_on_emr(aws_stub, "--plan", "-p", "input_path", "s3://my-bucket/fruits",
                         "-p", "output_path", "s3://my-bucket/out")
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("7 images: 1 x m5.2xlarge (ON_DEMAND), a single node")
    assert not cluster_creations(aws_stub)


def plan(stub, images, *options):
    """The --plan line of run-on-emr.sh for `images` images: (cluster, billed minutes, cost in $)."""
    process = run_on_emr(stub, "--images", str(images), "--plan", *options, "-p", "input_path", "s3://b/in",
                         "-p", "output_path", "s3://b/out")
    assert process.returncode == 0, process.stderr
    match = re.fullmatch(r"\d+ images: (.+), about ([\d.]+) billed minutes, about \$([\d.]+)\n", process.stdout)
    assert match, process.stdout
    return match.group(1), float(match.group(2)), float(match.group(3))


def test_full_fruits_360_costs_under_20_cents_on_demand_and_under_10_with_spot(aws_stub):
    # Issue 14's target, from bootstrap/prices.tsv (docs/emr-cost.md shows the arithmetic).
    cluster, minutes, on_demand = plan(aws_stub, 90000)
    assert cluster.startswith("1 x m5.2xlarge (ON_DEMAND), a single node") and on_demand < 0.20
    _, _, spot = plan(aws_stub, 90000, "--spot")
    assert spot < 0.10


def test_a_large_input_gets_core_nodes_to_finish_within_max_minutes(aws_stub):
    cluster, minutes, _ = plan(aws_stub, 10_000_000, "--max-minutes", "60")
    assert re.fullmatch(r"1 x m5.xlarge \(ON_DEMAND\) \+ \d+ x m5.\w+ \(ON_DEMAND\)", cluster) and minutes <= 60
    cluster, _, _ = plan(aws_stub, 10_000_000, "--max-minutes", "60", "--spot")
    assert cluster.startswith("1 x m5.xlarge (ON_DEMAND) + ") and cluster.endswith("(SPOT)")  # primary on demand


@pytest.mark.parametrize("arguments, message", [
    (["--images", "many"], "--images must be a whole number"),
    (["--images", "10", "--max-minutes", "0"], "--max-minutes must be a whole number"),
    (["--images", "10", "--prices", "/nonexistent.tsv"], "prices file /nonexistent.tsv not found"),
    (["--images", "10"], "input_path is 's3://YOUR-BUCKET/fruits-360/Training': set it in params/emr.yaml"),
])
def test_run_on_emr_refuses_bad_input_naming_it(aws_stub, arguments, message):
    process = run_on_emr(aws_stub, *arguments)
    assert process.returncode != 0 and message in process.stderr
    assert not cluster_creations(aws_stub)


# --- install-packages.sh -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bootstrapped_venv(tmp_path_factory):
    """A fresh virtual environment into which the bootstrap installed the primary node's package set
    from the package index, copying a weights file from (stub) S3 on a node that instance.json says is
    the primary."""
    folder = tmp_path_factory.mktemp("bootstrap")
    venv.create(folder / "venv", with_pip=True)
    stub = install_aws_stub(folder / "aws-stub")
    stub_s3_object(stub, "s3://my-bucket/models/weights.h5", "weights")
    instance = folder / "instance.json"
    instance.write_text('{"isMaster": true, "instanceGroupId": "ig-PRIMARY"}')
    python = folder / "venv" / "bin" / "python"
    process = run_script("install-packages.sh", *LOCK_ARGS, "--weights", "s3://my-bucket/models/weights.h5", stub=stub,
                         env={"PYTHON": str(python), "WEIGHTS_DIR": str(folder / "models"),
                              "EMR_INSTANCE_INFO": str(instance)})
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
def test_bootstrap_copies_the_weights_file_and_registers_the_kernel_on_the_primary_node(bootstrapped_venv):
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
                         env={"PYTHON": str(python), "EMR_INSTANCE_INFO": str(instance),
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
                         env={"PYTHON": sys.executable})
    assert process.returncode != 0
    assert "unpinned requirements" in process.stderr and "pandas>=2" in process.stderr
