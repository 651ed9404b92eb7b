"""bootstrap/submit-run.sh: the step it adds to a running cluster, read back from moto's API with
its arguments byte for byte."""

import re

import pytest

from support.emr_scripts import make_bucket, run_script

PROJECT = "s3://submit-project/fruits-featurize"


@pytest.fixture(scope="module", autouse=True)
def buckets(moto):
    make_bucket(moto, "submit-project")
    make_bucket(moto, "submit-central", "eu-central-1")
    make_bucket(moto, "submit-virginia", "us-east-1")


@pytest.fixture
def running_cluster(moto):
    """An interactive cluster that waits for steps."""
    return moto.client("emr").run_job_flow(
        Name="waiting", ReleaseLabel="emr-7.10.0", ServiceRole="service", JobFlowRole="node",
        Instances={"InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.2xlarge", "InstanceCount": 1}],
                   "KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]


def test_submit_run_adds_a_step_running_run_notebook_with_the_papermill_options_verbatim(moto, running_cluster, aws_env):
    process = run_script("submit-run.sh", "--region", "eu-west-1", running_cluster, PROJECT,
                         "-p", "output_path", "s3://submit-project/out 2", "-p", "image_glob", '*"odd".jpg',
                         env=aws_env)
    assert process.returncode == 0, process.stderr
    [step] = moto.client("emr").list_steps(ClusterId=running_cluster)["Steps"]
    assert process.stdout.strip() == step["Id"]
    assert step["ActionOnFailure"] == "CONTINUE" and step["Config"]["Jar"] == "command-runner.jar"
    bash, dash_c, script, name, project, executed, *papermill = step["Config"]["Args"]
    assert (bash, dash_c, name, project) == ("bash", "-c", "run-notebook", PROJECT)
    assert '"$1/bootstrap/run-notebook.sh"' in script
    assert re.fullmatch(rf"{PROJECT}/runs/\d{{8}}T\d{{6}}Z/featurize.ipynb", executed)
    # The user's options verbatim, then the per-cell limit: a hung cell fails the step.
    assert papermill == ["-p", "output_path", "s3://submit-project/out 2", "-p", "image_glob", '*"odd".jpg',
                         "--execution-timeout", "7200"]


def test_submit_run_takes_region_anywhere_and_keeps_the_papermill_options_around_it(moto, running_cluster, aws_env):
    with moto.recording() as requests:
        process = run_script("submit-run.sh", running_cluster, "s3://submit-central/p", "-p", "pca_k", "--region",
                             "--region", "eu-central-1", "-p", "image_glob", "*.png", env=aws_env)
    assert process.returncode == 0, process.stderr
    [add_steps] = [r for r in requests if r["target"] == "ElasticMapReduce.AddJobFlowSteps"]
    assert add_steps["region"] == "eu-central-1"
    assert add_steps["body"]["Steps"][0]["HadoopJarStep"]["Args"][6:] == ["-p", "pca_k", "--region",
                                                                          "-p", "image_glob", "*.png",
                                                                          "--execution-timeout", "7200"]


def test_submit_run_refuses_an_option_before_its_cluster_and_project(aws_env):
    process = run_script("submit-run.sh", "-p", "pca_k", "5", "j-X", PROJECT, env=aws_env)
    assert process.returncode == 2 and "Usage:" in process.stderr


def test_submit_run_stops_when_a_parameter_names_a_bucket_in_another_region(moto, running_cluster, aws_env):
    process = run_script("submit-run.sh", running_cluster, PROJECT, "-p", "output_path", "s3://submit-virginia/out",
                         env=aws_env)
    assert process.returncode != 0
    assert "bucket submit-virginia is in us-east-1, the cluster in eu-west-1" in process.stderr
    assert not moto.client("emr").list_steps(ClusterId=running_cluster)["Steps"]


@pytest.mark.parametrize("option", ["--cell-timeout", "--execution-timeout"])
def test_submit_run_passes_one_per_cell_time_limit_the_user_may_set(moto, running_cluster, aws_env, option):
    process = run_script("submit-run.sh", running_cluster, PROJECT, option, "600", "-p", "pca_k", "5", env=aws_env)
    assert process.returncode == 0, process.stderr
    [step] = moto.client("emr").list_steps(ClusterId=running_cluster)["Steps"]
    assert step["Config"]["Args"][6:] == ["-p", "pca_k", "5", "--execution-timeout", "600"]
