"""bootstrap/create-cluster.sh, the interactive cluster: what EMR received from the real AWS CLI,
read back from moto's API (describe-cluster), and the auto-termination policy (which moto does not
store) from the request itself. Slow: a cluster's request is some twenty AWS CLI calls (roles,
key, security configuration, checks); its refusals are in test_refusals.py."""

import json

import pytest

from support.emr_scripts import BOOTSTRAP, describe_cluster, project_with_bootstrap, put_object, run_script

BUCKET = "interactive-project"
PROJECT = f"s3://{BUCKET}/fruits-featurize"
PATHS = ["--input", f"s3://{BUCKET}/images", "--output", f"s3://{BUCKET}/features"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(moto):
    return project_with_bootstrap(moto, PROJECT)


@pytest.fixture(scope="module")
def interactive(moto, project, tmp_path_factory):
    """create-cluster.sh with its defaults: (process, describe-cluster, the RunJobFlow request)."""
    env = moto.environment(tmp_path_factory.mktemp("interactive"))
    with moto.recording() as requests:
        process = run_script("create-cluster.sh", PROJECT, *PATHS, env=env)
    assert process.returncode == 0, process.stderr
    [run_job_flow] = [r["body"] for r in requests if r["target"] == "ElasticMapReduce.RunJobFlow"]
    return process, describe_cluster(env, process.stdout.strip()), run_job_flow


def test_create_cluster_prints_the_id_of_the_cluster_it_created(interactive):
    process, cluster, _ = interactive
    assert process.stdout.strip() == cluster["Id"]


def test_interactive_cluster_runs_emr_7_10_with_spark_livy_and_jupyterhub(interactive):
    _, cluster, _ = interactive
    assert cluster["ReleaseLabel"] == "emr-7.10.0"
    assert sorted(application["Name"] for application in cluster["Applications"]) == \
        ["Hadoop", "JupyterHub", "Livy", "Spark"]


def test_interactive_cluster_nodes_are_on_demand_m5_2xlarge(interactive):
    _, cluster, _ = interactive
    groups = {group["InstanceGroupType"]: group for group in cluster["InstanceGroups"]}
    assert set(groups) == {"MASTER", "CORE"}
    assert (groups["MASTER"]["InstanceType"], groups["MASTER"]["RequestedInstanceCount"]) == ("m5.2xlarge", 1)
    assert (groups["CORE"]["InstanceType"], groups["CORE"]["RequestedInstanceCount"]) == ("m5.2xlarge", 4)
    assert all(group["Market"] == "ON_DEMAND" and "BidPrice" not in group for group in groups.values())


def test_interactive_cluster_nodes_have_a_15_gib_root_and_a_32_gib_gp3_data_volume(interactive):
    _, cluster, _ = interactive
    assert cluster["EbsRootVolumeSize"] == 15
    for group in cluster["InstanceGroups"]:
        assert [device["VolumeSpecification"] for device in group["EbsBlockDevices"]] == \
            [{"VolumeType": "gp3", "SizeInGB": 32}], group["InstanceGroupType"]


def test_create_cluster_says_what_the_cluster_costs_per_hour_all_in(interactive):
    process, _, _ = interactive
    # 5 nodes x (0.428 EC2 + 0.096 EMR + (15 + 32) GiB x 0.088 $/GiB-month / 720 h + 0.005 IPv4) $/h
    assert "it costs about $2.6737/h all in" in process.stderr


def test_interactive_cluster_runs_with_the_projects_roles_and_tag(interactive):
    _, cluster, _ = interactive
    assert cluster["ServiceRole"] == "fruits-featurize-emr-service"
    assert cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == "fruits-featurize-node"
    assert {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"} in cluster["Tags"]


def test_interactive_nodes_may_keep_jupyterhub_notebooks_in_the_project_bucket(moto, interactive):
    policy = moto.client("iam").get_role_policy(RoleName="fruits-featurize-node", PolicyName="run-access")["PolicyDocument"]
    [statement] = [s for s in policy["Statement"] if s["Sid"] == "JupyterHubNotebooks"]
    assert statement["Resource"] == [f"arn:aws:s3:::{BUCKET}/jupyter/*"]


def test_interactive_cluster_installs_the_project_locks_on_every_node(interactive):
    _, cluster, _ = interactive
    [action] = cluster["BootstrapActions"]
    assert action["ScriptPath"] == f"{PROJECT}/bootstrap/install-packages.sh"
    assert action["Args"] == ["--requirements", f"{PROJECT}/requirements.lock",
                              "--worker-requirements", f"{PROJECT}/requirements-worker.lock"]


def test_interactive_cluster_gets_the_configurations_with_the_project_bucket(interactive):
    _, cluster, _ = interactive
    expected = [item for name in ["configurations.json", "configurations-interactive.json"]
                for item in json.loads((BOOTSTRAP / name).read_text().replace("YOUR-BUCKET", BUCKET))]
    assert cluster["Configurations"] == expected


def test_interactive_cluster_keeps_its_logs_in_the_project(interactive):
    _, cluster, _ = interactive
    assert cluster["LogUri"] == f"{PROJECT}/logs/"


def test_interactive_cluster_waits_for_work_and_ends_after_15_idle_minutes(interactive):
    _, cluster, run_job_flow = interactive
    assert cluster["AutoTerminate"] is False and not cluster.get("Steps")
    assert run_job_flow["AutoTerminationPolicy"] == {"IdleTimeout": 900}


def test_create_cluster_options_set_instances_timeout_wheelhouse_and_weights(moto, project, aws_env):
    put_object(moto, f"{PROJECT}/wheelhouse/worker/numpy-1.26.4-cp311-cp311-manylinux2014_x86_64.whl")
    with moto.recording() as requests:
        process = run_script("create-cluster.sh", PROJECT, *PATHS, "--core-type", "m5.4xlarge", "--core-count", "2",
                             "--data-gib", "100", "--idle-timeout", "1800", "--weights", f"s3://{BUCKET}/w.h5",
                             "--wheelhouse", f"{PROJECT}/wheelhouse/", "--name", "options", env=aws_env)
    assert process.returncode == 0, process.stderr
    cluster = describe_cluster(aws_env, process.stdout.strip())
    [core] = [group for group in cluster["InstanceGroups"] if group["InstanceGroupType"] == "CORE"]
    assert (core["InstanceType"], core["RequestedInstanceCount"]) == ("m5.4xlarge", 2)
    assert core["EbsBlockDevices"][0]["VolumeSpecification"]["SizeInGB"] == 100
    assert cluster["BootstrapActions"][0]["Args"][-4:] == ["--wheelhouse", f"{PROJECT}/wheelhouse",
                                                          "--weights", f"s3://{BUCKET}/w.h5"]
    [run_job_flow] = [r["body"] for r in requests if r["target"] == "ElasticMapReduce.RunJobFlow"]
    assert run_job_flow["AutoTerminationPolicy"] == {"IdleTimeout": 1800}


def test_interactive_cluster_encrypts_at_rest_with_the_projects_security_configuration(moto, interactive):
    _, cluster, _ = interactive
    assert cluster["SecurityConfiguration"] == "fruits-featurize-at-rest"
    described = moto.client("emr").describe_security_configuration(Name="fruits-featurize-at-rest")
    at_rest = json.loads(described["SecurityConfiguration"])["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]
    key = moto.client("kms").describe_key(KeyId="alias/fruits-featurize-disks")["KeyMetadata"]
    assert at_rest == {"S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"},
                       "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms",
                                                            "AwsKmsKey": key["Arn"], "EnableEbsEncryption": True}}
    assert key["KeyManager"] == "CUSTOMER" and key["Enabled"]
