"""bootstrap/run-on-emr.sh from the request to the end of the cluster: the transient cluster EMR
received (read back through moto's API), then the step and the cluster ended as EMR ends them
(support.moto_server.finish_cluster), so that the script's waiting, report and cost run on real API
answers."""

import re

import pytest

from support.emr_scripts import (clusters_named, describe_cluster, make_bucket, put_object, read_object,
                                 run_script, start_script, wait_for_cluster)

BUCKET = "transient-project"
PROJECT = f"s3://{BUCKET}/fruits-featurize"
INPUT = f"s3://{BUCKET}/fruits-360/Training"
# 20 min 30 s from request to end: 12 min to ready, the step 6 min 30 s, 2 min to terminate.
TIMELINE = {"created": "2026-11-28T10:00:00", "ready": "2026-11-28T10:12:00",
            "step_end": "2026-11-28T10:18:30", "ended": "2026-11-28T10:20:30"}


def transient_run(moto, home, name, *options, step_state="COMPLETED", reason="Steps completed"):
    """run-on-emr.sh for the full Fruits-360 (90,000 images) with `options`, its cluster ended as
    EMR ends it: (finished process, describe-cluster, the cluster's steps)."""
    env = {**moto.environment(home), "POLL_SECONDS": "0.2"}
    process = start_script("run-on-emr.sh", PROJECT, "--images", "90000", "--name", name, *options,
                           "-p", "input_path", INPUT, "-p", "output_path", f"s3://{BUCKET}/out {name}",
                           "-p", "pca_k", "50", env=env)
    cluster_id = wait_for_cluster(moto, name, process)
    moto.finish_cluster(cluster_id, step_state, reason=reason, **TIMELINE)
    stdout, stderr = process.communicate(timeout=300)
    steps = moto.client("emr").list_steps(ClusterId=cluster_id)["Steps"]
    return process.returncode, stdout, stderr, describe_cluster(env, cluster_id), steps


@pytest.fixture(scope="module")
def on_demand(moto, tmp_path_factory):
    make_bucket(moto, BUCKET)
    return transient_run(moto, tmp_path_factory.mktemp("on-demand"), "on-demand")


@pytest.fixture(scope="module")
def spot(moto, on_demand, tmp_path_factory):
    return transient_run(moto, tmp_path_factory.mktemp("spot"), "spot", "--spot")


def test_run_on_emr_succeeds_when_the_step_completes(on_demand):
    returncode, stdout, stderr, _, _ = on_demand
    assert returncode == 0, stderr
    assert "step: COMPLETED" in stdout


def test_run_on_emr_uploads_the_project_before_creating_the_cluster(moto, on_demand):
    notebook = read_object(moto, f"{PROJECT}/notebooks/featurize.ipynb")
    assert b'"parameters"' in notebook


def test_transient_cluster_ends_with_its_step(on_demand):
    _, _, _, cluster, steps = on_demand
    assert cluster["AutoTerminate"] is True
    [step] = steps
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"


def test_full_fruits_360_runs_on_one_on_demand_m5_2xlarge(on_demand):
    _, _, _, cluster, _ = on_demand
    [group] = cluster["InstanceGroups"]
    assert (group["InstanceGroupType"], group["InstanceType"], group["RequestedInstanceCount"]) == \
        ("MASTER", "m5.2xlarge", 1)
    assert group["Market"] == "ON_DEMAND" and "BidPrice" not in group


def test_the_node_has_the_smallest_gp3_data_volume_that_holds_what_the_run_writes(on_demand):
    _, _, _, cluster, _ = on_demand
    # (8 GiB fixed + 90,000 images x 32 KiB) / 0.9 maximum use = 11.9, rounded up (bootstrap/prices.tsv)
    [group] = cluster["InstanceGroups"]
    assert [device["VolumeSpecification"] for device in group["EbsBlockDevices"]] == [{"VolumeType": "gp3", "SizeInGB": 12}]
    assert cluster["EbsRootVolumeSize"] == 15


def test_with_spot_the_single_node_is_a_spot_instance(spot):
    returncode, _, stderr, cluster, _ = spot
    assert returncode == 0, stderr
    [group] = cluster["InstanceGroups"]
    assert group["Market"] == "SPOT"


def test_the_step_runs_run_notebook_with_the_papermill_options_byte_for_byte(on_demand):
    _, _, _, _, steps = on_demand
    config = steps[0]["Config"]
    assert config["Jar"] == "command-runner.jar"
    bash, dash_c, script, name, project, executed, *papermill = config["Args"]
    assert (bash, dash_c, name, project) == ("bash", "-c", "run-notebook", PROJECT)
    assert script == ('aws s3 cp --only-show-errors "$1/bootstrap/run-notebook.sh" /tmp/run-notebook.sh'
                      ' && exec bash /tmp/run-notebook.sh "$@"')
    assert re.fullmatch(rf"{PROJECT}/runs/\d{{8}}T\d{{6}}Z/featurize.ipynb", executed)
    # 3 partitions per executor vCPU, then the user's parameters verbatim, then a per-cell time limit.
    assert papermill[:12] == ["-p", "num_partitions", "24", "-p", "input_path", INPUT,
                              "-p", "output_path", f"s3://{BUCKET}/out on-demand", "-p", "pca_k", "50"]
    # A hung cell ends the step, and the cluster, after three times the run's estimate (18.9 minutes).
    assert papermill[12:] == ["--execution-timeout", str(int(3 * 18.9 * 60))]


def test_run_on_emr_reports_where_the_outputs_are(on_demand):
    _, stdout, _, _, steps = on_demand
    executed = steps[0]["Config"]["Args"][5]
    assert f"executed notebook: {executed}" in stdout
    assert f"manifest: s3://{BUCKET}/out on-demand/manifest.json" in stdout


def test_run_on_emr_reports_the_billed_time_from_the_cluster_timeline(on_demand):
    _, stdout, _, _, _ = on_demand
    assert "billed: 20 min 30 s" in stdout


def test_run_on_emr_prints_the_cost_all_in_at_the_market_the_node_got(on_demand, spot):
    # 1230 s x (EC2 + 0.096 EMR + (15 + 12) GiB x 0.088 $/GiB-month / 720 h + 0.005 IPv4) $/h, with EC2
    # at 0.428 on demand and 0.171 on spot (bootstrap/prices.tsv): 0.5323 and 0.2753 $/h.
    assert "on 1 x m5.2xlarge (ON_DEMAND)" in on_demand[1] and "estimated cost: $0.182 (at $0.5323/h" in on_demand[1]
    assert "on 1 x m5.2xlarge (SPOT)" in spot[1] and "estimated cost: $0.094 (at $0.2753/h" in spot[1]


def test_run_on_emr_reports_a_failed_step_and_says_where_to_look(moto, on_demand, tmp_path):
    returncode, stdout, stderr, cluster, _ = transient_run(moto, tmp_path, "failing", step_state="FAILED",
                                                           reason="Shut down as step failed")
    assert returncode != 0
    assert "step: FAILED" in stdout and "billed: 20 min 30 s" in stdout
    assert cluster["Status"]["State"] == "TERMINATED_WITH_ERRORS"
    assert "Shut down as step failed" in stderr and "(the failing cell)" in stderr


def test_run_on_emr_counts_the_images_under_input_path(moto, aws_env):
    make_bucket(moto, "counted")
    for i in range(7):
        put_object(moto, f"s3://counted/fruits/Apple/{i}.jpg", b"jpeg")
    process = run_script("run-on-emr.sh", PROJECT, "--plan", "--name", "plan-only", "-p", "input_path",
                         "s3://counted/fruits", "-p", "output_path", "s3://counted/out", env=aws_env)
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("7 images: 1 x m5.2xlarge (ON_DEMAND), a single node")
    assert not clusters_named(moto, "plan-only")
