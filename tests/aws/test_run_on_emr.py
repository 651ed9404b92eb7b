"""bootstrap/run-on-emr.sh from the request to the end of the cluster: the transient cluster EMR
received (read back through moto's API), then the step and the cluster ended as EMR ends them
(support.moto_server.finish_cluster), so that the script's waiting, report, cost and measured
minutes run on real API answers. Slow: each run is some twenty AWS CLI calls. On demand, the nodes'
market is read back in test_create_cluster.py, and the on-demand price in test_run_on_emr_plan.py."""

import json
import re

import pytest

from support.emr_scripts import (BOOTSTRAP, clusters_named, describe_cluster, make_bucket, put_object, read_object,
                                 run_script, start_script, wait_for_new_cluster)

BUCKET = "transient-project"
PROJECT = f"s3://{BUCKET}/fruits-featurize"
INPUT = f"s3://{BUCKET}/fruits-360/Training"
NAME = "transient"  # one name, one node role, for every run of this module

pytestmark = pytest.mark.slow
# 20 min 30 s from request to end: 12 min to ready, the step 6 min 30 s, 2 min to terminate.
TIMELINE = {"created": "2026-11-28T10:00:00", "ready": "2026-11-28T10:12:00",
            "step_end": "2026-11-28T10:18:30", "ended": "2026-11-28T10:20:30"}
# The manifest's parts run-on-emr.sh reads, as the notebook writes them (json.dump, indent 2):
# the featurization took 150 s of the step's 390 s.
MANIFEST = {"parameters": {"input_path": INPUT}, "counts": {"found": 90000, "featurized": 89990, "rejected": 10},
            "stage_seconds": {"check parameters": 2.1, "model": 30.5, "load": 12.0, "featurize": 150.0, "pca": 8.2,
                              "write": 20.1, "validate": 6.0, "report": 4.4}}


def transient_run(moto, home, output, *options, step_state="COMPLETED", reason="Steps completed", manifest=None):
    """run-on-emr.sh for the full Fruits-360 (90,000 images) into `output` with `options` and its
    measured file in `home`, its cluster ended as EMR ends it, with `manifest` (text) written by the
    run: (exit code, stdout, stderr, describe-cluster, the cluster's steps)."""
    env = {**moto.environment(home), "POLL_SECONDS": "0.2"}
    before = clusters_named(moto, NAME)
    process = start_script("run-on-emr.sh", PROJECT, "--images", "90000", "--name", NAME, *options,
                           "--measured", home / "measured.tsv",
                           "-p", "input_path", INPUT, "-p", "output_path", output, "-p", "pca_k", "50", env=env)
    cluster_id = wait_for_new_cluster(moto, NAME, process, before)
    if manifest is not None:
        put_object(moto, f"{output}/manifest.json", manifest.encode())
    moto.finish_cluster(cluster_id, step_state, reason=reason, **TIMELINE)
    stdout, stderr = process.communicate(timeout=300)
    steps = moto.client("emr").list_steps(ClusterId=cluster_id)["Steps"]
    return process.returncode, stdout, stderr, describe_cluster(env, cluster_id), steps


@pytest.fixture(scope="module")
def spot_home(tmp_path_factory):
    return tmp_path_factory.mktemp("spot")


@pytest.fixture(scope="module")
def spot(moto, spot_home):
    """The full Fruits-360 with --spot, completed, its manifest written."""
    make_bucket(moto, BUCKET)
    return transient_run(moto, spot_home, f"s3://{BUCKET}/out spot", "--spot", manifest=json.dumps(MANIFEST, indent=2))


def test_run_on_emr_succeeds_when_the_step_completes(spot):
    returncode, stdout, stderr, _, _ = spot
    assert returncode == 0, stderr
    assert "step: COMPLETED" in stdout


def test_run_on_emr_uploads_the_project_before_creating_the_cluster(moto, spot):
    notebook = read_object(moto, f"{PROJECT}/notebooks/featurize.ipynb")
    assert b'"parameters"' in notebook


def test_transient_cluster_ends_with_its_step(spot):
    _, _, _, cluster, steps = spot
    assert cluster["AutoTerminate"] is True
    [step] = steps
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"


def test_transient_cluster_runs_hadoop_and_spark_only(spot):
    _, _, _, cluster, _ = spot
    assert sorted(application["Name"] for application in cluster["Applications"]) == ["Hadoop", "Spark"]


def test_transient_cluster_gets_the_spark_configurations_only(spot):
    _, _, _, cluster, _ = spot
    assert cluster["Configurations"] == json.loads((BOOTSTRAP / "configurations.json").read_text())


def test_with_spot_the_single_node_is_a_spot_m5_2xlarge(spot):
    _, _, _, cluster, _ = spot
    [group] = cluster["InstanceGroups"]
    assert (group["InstanceGroupType"], group["InstanceType"], group["RequestedInstanceCount"]) == \
        ("MASTER", "m5.2xlarge", 1)
    assert group["Market"] == "SPOT"


def test_the_node_has_the_smallest_gp3_data_volume_that_holds_what_the_run_writes(spot):
    _, _, _, cluster, _ = spot
    # (8 GiB fixed + 90,000 images x 32 KiB) / 0.9 maximum use = 11.9, rounded up (bootstrap/prices.tsv)
    [group] = cluster["InstanceGroups"]
    assert [device["VolumeSpecification"] for device in group["EbsBlockDevices"]] == [{"VolumeType": "gp3", "SizeInGB": 12}]
    assert cluster["EbsRootVolumeSize"] == 15


def test_the_step_runs_run_notebook_with_the_papermill_options_byte_for_byte(spot):
    _, _, _, _, steps = spot
    config = steps[0]["Config"]
    assert config["Jar"] == "command-runner.jar"
    bash, dash_c, script, name, project, executed, *papermill = config["Args"]
    assert (bash, dash_c, name, project) == ("bash", "-c", "run-notebook", PROJECT)
    assert script == ('aws s3 cp --only-show-errors "$1/bootstrap/run-notebook.sh" /tmp/run-notebook.sh'
                      ' && exec bash /tmp/run-notebook.sh "$@"')
    assert re.fullmatch(rf"{PROJECT}/runs/\d{{8}}T\d{{6}}Z/featurize.ipynb", executed)
    # 3 partitions per executor vCPU, the driver's heap, then the user's parameters verbatim (a user's
    # driver_memory would come later and win), then a per-cell time limit.
    assert papermill[:15] == ["-p", "num_partitions", "24", "-p", "driver_memory", "4g", "-p", "input_path", INPUT,
                              "-p", "output_path", f"s3://{BUCKET}/out spot", "-p", "pca_k", "50"]
    # A hung cell ends the step, and the cluster, after three times the run's estimate (18.9 minutes).
    assert papermill[15:] == ["--execution-timeout", str(int(3 * 18.9 * 60))]


def test_run_on_emr_reports_where_the_outputs_are(spot):
    _, stdout, _, _, steps = spot
    executed = steps[0]["Config"]["Args"][5]
    assert f"executed notebook: {executed}" in stdout
    assert f"manifest: s3://{BUCKET}/out spot/manifest.json" in stdout


def test_run_on_emr_reports_the_billed_time_from_the_cluster_timeline(spot):
    _, stdout, _, _, _ = spot
    assert "billed: 20 min 30 s" in stdout


def test_run_on_emr_prints_the_cost_all_in_at_the_spot_price_the_node_got(spot):
    # 1230 s x (0.171 EC2 spot + 0.096 EMR + (15 + 12) GiB x 0.088 $/GiB-month / 720 h + 0.005 IPv4)
    # = 1230 s x 0.2753 $/h (bootstrap/prices.tsv)
    assert "on 1 x m5.2xlarge (SPOT)" in spot[1] and "estimated cost: $0.094 (at $0.2753/h" in spot[1]


def test_run_on_emr_prints_the_measured_minutes_next_to_the_estimates(spot):
    _, stdout, _, _, _ = spot
    table = stdout[stdout.index("minutes "):].splitlines()[1:7]
    rows = {line[:36].strip(): line[36:].split() for line in table}
    # Estimates: 12 + 1.9 featurizing + 3 + 2; measured: the timeline (12 min to ready, the step 6.5
    # min, 2 min to end) and the manifest (featurize 150 s of the step's 390 s).
    assert rows == {"request to ready (cluster timeline)": ["12.0", "12.0"],
                    "notebook, featurize (manifest)": ["1.9", "2.5"],
                    "notebook, the rest of the step": ["3.0", "4.0"],
                    "step end to cluster end": ["2.0", "2.0"],
                    "ready to end (cluster timeline)": ["6.9", "8.5"],
                    "billed": ["18.9", "20.5"]}
    assert "the notebook's stages (manifest stage_seconds): check parameters 2.1 s, model 30.5 s" in stdout


def test_a_completed_run_records_what_it_measured_for_the_next_plan(spot, spot_home):
    settings = dict(line.split()[1:] for line in (spot_home / "measured.tsv").read_text().splitlines()
                    if line.startswith("setting"))
    # 90,000 images / 150 s / 8 executor vCPUs = 75 images/s per vCPU
    assert settings == {"startup_minutes": "12.0", "notebook_fixed_minutes": "4.0",
                        "images_per_second_per_vcpu": "75.0", "teardown_minutes": "2.0"}


def test_the_next_plan_uses_the_measured_figures(spot, spot_home, aws_env):
    process = run_script("run-on-emr.sh", PROJECT, "--images", "90000", "--plan", "--measured",
                         spot_home / "measured.tsv", "-p", "input_path", INPUT, "-p", "output_path",
                         f"s3://{BUCKET}/out", env=aws_env)
    assert process.returncode == 0, process.stderr
    # 12 + 4 + 2 + 90,000 / (8 x 75) / 60 = 20.5 minutes
    assert "about 20.5 billed minutes" in process.stdout
    assert "figures measured by earlier runs" in process.stderr


def test_run_on_emr_reports_a_failed_step_and_says_where_to_look(moto, spot, tmp_path):
    returncode, stdout, stderr, cluster, _ = transient_run(moto, tmp_path, f"s3://{BUCKET}/out failing",
                                                           step_state="FAILED", reason="Shut down as step failed")
    assert returncode != 0
    assert "step: FAILED" in stdout and "billed: 20 min 30 s" in stdout
    assert cluster["Status"]["State"] == "TERMINATED_WITH_ERRORS"
    assert "Shut down as step failed" in stderr and "(the failing cell)" in stderr
    # The timeline's minutes still, but no manifest: no stages, nothing recorded.
    assert "request to ready (cluster timeline)" in stdout and "the notebook's stages" not in stdout
    assert not (tmp_path / "measured.tsv").exists()


def test_transient_cluster_encrypts_at_rest(spot):
    _, _, _, cluster, _ = spot
    assert cluster["SecurityConfiguration"] == "fruits-featurize-at-rest"


def test_transient_cluster_runs_with_the_projects_roles_in_a_tagged_subnet(moto, spot):
    _, _, _, cluster, _ = spot
    assert cluster["ServiceRole"] == "fruits-featurize-emr-service"
    attributes = cluster["Ec2InstanceAttributes"]
    assert attributes["IamInstanceProfile"] == f"{NAME}-node"
    [subnet] = moto.client("ec2").describe_subnets(SubnetIds=[attributes["Ec2SubnetId"]])["Subnets"]
    assert {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"} in subnet["Tags"]
    assert {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"} in cluster["Tags"]
