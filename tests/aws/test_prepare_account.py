"""bootstrap/prepare-account.sh, least privilege: the roles it makes (read back from moto's IAM), that
it is idempotent, what --plan prints, and the node policy itself under IAM enforcement (moto's
INITIAL_NO_AUTH_ACTION_COUNT): credentials holding exactly that policy read the input and write the
output, and are refused on another bucket."""

import json

import pytest
from botocore.exceptions import ClientError

from support.emr_scripts import make_bucket, put_object, run_script

PROJECT = "s3://policy-project/fruits-featurize"
INPUT = "s3://policy-input/fruits-360/Training"
OUTPUT = "s3://policy-output/features/run-1"
WEIGHTS = "s3://policy-models/mobilenet.h5"
ARGUMENTS = [PROJECT, "--input", INPUT, "--output", OUTPUT, "--weights", WEIGHTS, "--name", "policy-test"]
EMR_TAG = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}


def plan_documents(stdout):
    """The JSON documents --plan prints, by the comment line before each group."""
    documents, decoder, text = [], json.JSONDecoder(), "\n".join(
        line for line in stdout.splitlines() if not line.startswith("#"))
    position = 0
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        document, end = decoder.raw_decode(text, position)
        documents.append(document)
        position = end
    return documents


def statements(policy):
    return {statement["Sid"]: statement for statement in policy["Statement"]}


PLANNED = ["service trust", "pass role", "service key", "node trust", "node policy", "security configuration"]


@pytest.fixture(scope="module")
def plan(tmp_path_factory, moto):
    """{name: JSON document} of what --plan prints, in its order (PLANNED)."""
    process = run_script("prepare-account.sh", *ARGUMENTS, "--plan", env=moto.environment(tmp_path_factory.mktemp("plan")))
    assert process.returncode == 0, process.stderr
    documents = plan_documents(process.stdout)
    assert len(documents) == len(PLANNED), process.stdout
    return dict(zip(PLANNED, documents))


def test_plan_prints_the_trust_and_permission_policies_and_changes_nothing(moto, plan):
    assert plan["service trust"]["Statement"][0]["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    assert plan["pass role"]["Statement"][0]["Action"] == "iam:PassRole"
    assert plan["pass role"]["Statement"][0]["Resource"].endswith(":role/policy-test-node")
    assert plan["node trust"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    with pytest.raises(ClientError):
        moto.client("iam").get_role(RoleName="policy-test-node")


def test_plan_prints_the_security_configuration_encrypting_s3_objects_and_local_disks(plan):
    at_rest = plan["security configuration"]["EncryptionConfiguration"]
    assert at_rest["EnableAtRestEncryption"] is True and at_rest["EnableInTransitEncryption"] is False
    assert at_rest["AtRestEncryptionConfiguration"]["S3EncryptionConfiguration"] == {"EncryptionMode": "SSE-S3"}
    disks = at_rest["AtRestEncryptionConfiguration"]["LocalDiskEncryptionConfiguration"]
    assert disks["EncryptionKeyProviderType"] == "AwsKms" and disks["EnableEbsEncryption"] is True


def test_node_policy_reads_the_input_and_weights_only(plan):
    policy = statements(plan["node policy"])
    assert policy["ReadTheInput"]["Action"] == ["s3:GetObject"]
    assert policy["ReadTheInput"]["Resource"] == ["arn:aws:s3:::policy-input/fruits-360/Training/*"]
    assert policy["ReadTheWeights"]["Resource"] == ["arn:aws:s3:::policy-models/mobilenet.h5"]


def test_node_policy_reads_the_project_and_writes_only_its_runs_and_logs(plan):
    policy = statements(plan["node policy"])
    assert policy["ReadTheProject"] == {"Sid": "ReadTheProject", "Effect": "Allow", "Action": ["s3:GetObject"],
                                        "Resource": ["arn:aws:s3:::policy-project/fruits-featurize/*"]}
    assert policy["WriteTheExecutedNotebooks"]["Resource"] == ["arn:aws:s3:::policy-project/fruits-featurize/runs/*"]
    assert policy["WriteTheLogs"] == {"Sid": "WriteTheLogs", "Effect": "Allow", "Action": ["s3:PutObject"],
                                      "Resource": ["arn:aws:s3:::policy-project/fruits-featurize/logs/*"]}


def test_node_policy_lists_only_the_runs_buckets_and_writes_only_the_output(plan):
    policy = statements(plan["node policy"])
    assert policy["ListTheRunsBuckets"]["Resource"] == [f"arn:aws:s3:::{bucket}" for bucket in
                                                        ["policy-input", "policy-models", "policy-output", "policy-project"]]
    assert policy["ReadWriteTheOutput"]["Resource"] == ["arn:aws:s3:::policy-output/features/run-1/*",
                                                        "arn:aws:s3:::policy-output/features/run-1_$folder$"]
    assert "JupyterHubNotebooks" not in policy  # a transient cluster's nodes run no JupyterHub
    assert policy["UseTheLocalDiskKey"]["Resource"] == [plan["security configuration"]["EncryptionConfiguration"][
        "AtRestEncryptionConfiguration"]["LocalDiskEncryptionConfiguration"]["AwsKmsKey"]]
    assert all(statement["Effect"] == "Allow" and not {"*", "s3:*", "kms:*"} & set(statement["Action"])
               for statement in policy.values())


@pytest.fixture(scope="module")
def prepared(moto, tmp_path_factory):
    """prepare-account.sh run twice, as two runs would: (first process, second process)."""
    env = moto.environment(tmp_path_factory.mktemp("prepare"))
    first = run_script("prepare-account.sh", *ARGUMENTS, env=env)
    second = run_script("prepare-account.sh", *ARGUMENTS, env=env)
    return first, second


@pytest.mark.slow  # a dozen IAM and EC2 calls
def test_the_service_role_has_the_v2_policy_and_may_pass_the_node_role_only(moto, prepared):
    assert prepared[0].returncode == 0, prepared[0].stderr
    iam = moto.client("iam")
    role = iam.get_role(RoleName="fruits-featurize-emr-service")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName="fruits-featurize-emr-service")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == ["arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]
    pass_role = iam.get_role_policy(RoleName="fruits-featurize-emr-service", PolicyName="pass-policy-test-node")
    assert pass_role["PolicyDocument"]["Statement"][0]["Resource"] == "arn:aws:iam::123456789012:role/policy-test-node"


@pytest.mark.slow  # a dozen IAM and EC2 calls
def test_the_node_role_holds_exactly_the_planned_policy_in_an_instance_profile_of_its_name(moto, prepared, plan):
    iam = moto.client("iam")
    assert iam.list_role_policies(RoleName="policy-test-node")["PolicyNames"] == ["run-access"]
    assert not iam.list_attached_role_policies(RoleName="policy-test-node")["AttachedPolicies"]
    key_arn = moto.client("kms").describe_key(KeyId="alias/fruits-featurize-disks")["KeyMetadata"]["Arn"]
    planned = json.loads(json.dumps(plan["node policy"]).replace("arn:aws:kms:eu-west-1:ACCOUNT_ID:key/KEY_ID", key_arn))
    assert iam.get_role_policy(RoleName="policy-test-node", PolicyName="run-access")["PolicyDocument"] == planned
    profile = iam.get_instance_profile(InstanceProfileName="policy-test-node")["InstanceProfile"]
    assert [role["RoleName"] for role in profile["Roles"]] == ["policy-test-node"]


@pytest.mark.slow  # a dozen IAM and EC2 calls
def test_the_clusters_subnet_and_vpc_are_tagged_for_the_v2_policy(moto, prepared):
    subnet_id = prepared[0].stdout.strip()
    [subnet] = moto.client("ec2").describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    [vpc] = moto.client("ec2").describe_vpcs(VpcIds=[subnet["VpcId"]])["Vpcs"]
    assert subnet["DefaultForAz"] and EMR_TAG in subnet["Tags"] and EMR_TAG in vpc["Tags"]


@pytest.mark.slow  # a dozen IAM and EC2 calls
def test_prepare_account_is_idempotent(moto, prepared, plan):
    first, second = prepared
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stderr and "tagged" not in second.stderr
    assert second.stdout == first.stdout
    assert "UseTheLocalDiskKey" in statements(
        moto.client("iam").get_role_policy(RoleName="policy-test-node", PolicyName="run-access")["PolicyDocument"])


@pytest.fixture(scope="module")
def node_credentials(moto, prepared):
    """Credentials of the node role, as a node gets them from its instance profile (STS AssumeRole),
    with the buckets holding an image, a weights file, the project's bootstrap, and another bucket."""
    assert prepared[0].returncode == 0, prepared[0].stderr
    for bucket in ["policy-project", "policy-input", "policy-output", "policy-models", "policy-elsewhere"]:
        make_bucket(moto, bucket)
    put_object(moto, f"{INPUT}/Apple/0.jpg", b"jpeg")
    put_object(moto, WEIGHTS, b"weights")
    put_object(moto, f"{PROJECT}/bootstrap/install-packages.sh", b"#!/bin/bash\n")
    put_object(moto, "s3://policy-elsewhere/secret.csv", b"secret")
    put_object(moto, "s3://policy-input/other-dataset/0.jpg", b"jpeg")
    credentials = moto.client("sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/policy-test-node",
                                                  RoleSessionName="node")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"]}


def s3_attempt(client, action, uri, body=None):
    """Whether the S3 request `action` (read, list, write) on `uri` succeeds."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    try:
        if action == "read":
            client.get_object(Bucket=bucket, Key=key)
        elif action == "list":
            client.list_objects_v2(Bucket=bucket, Prefix=key)
        else:
            client.put_object(Bucket=bucket, Key=key, Body=b"written by a node")
        return True
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("AccessDenied", "403"), error
        return False


@pytest.fixture(scope="module")
def node_attempts(moto, node_credentials):
    """What the node's credentials may do, with IAM enforced: {what: allowed}. (boto3, as s3fs and
    papermill on a node: the policy does not depend on the client, and no process starts per call.)"""
    attempts = {
        "read the input": ("read", f"{INPUT}/Apple/0.jpg"),
        "list the input": ("list", f"{INPUT}/"),
        "read the weights": ("read", WEIGHTS),
        "read the bootstrap": ("read", f"{PROJECT}/bootstrap/install-packages.sh"),
        "write the output": ("write", f"{OUTPUT}/features/part-0.parquet"),
        "write an executed notebook": ("write", f"{PROJECT}/runs/1/featurize.ipynb"),
        "write a log": ("write", f"{PROJECT}/logs/j-1/node.log"),
        "read another bucket": ("read", "s3://policy-elsewhere/secret.csv"),
        "list another bucket": ("list", "s3://policy-elsewhere/"),
        "write another bucket": ("write", "s3://policy-elsewhere/x"),
        "read another prefix of the input bucket": ("read", "s3://policy-input/other-dataset/0.jpg"),
        "write the input": ("write", f"{INPUT}/Apple/1.jpg"),
        "overwrite the bootstrap": ("write", f"{PROJECT}/bootstrap/install-packages.sh"),
        "write next to the output": ("write", "s3://policy-output/features/run-2/x"),
    }
    client = moto.client("s3", **node_credentials)
    with moto.iam_enforced():
        return {what: s3_attempt(client, action, uri) for what, (action, uri) in attempts.items()}


@pytest.mark.slow  # the node role made by prepare-account.sh (a dozen IAM and EC2 calls)
def test_node_credentials_read_the_input_weights_and_project_and_write_the_output_runs_and_logs(node_attempts):
    allowed = ["read the input", "list the input", "read the weights", "read the bootstrap", "write the output",
               "write an executed notebook", "write a log"]
    assert {what: node_attempts[what] for what in allowed} == dict.fromkeys(allowed, True)


@pytest.mark.slow  # the node role made by prepare-account.sh (a dozen IAM and EC2 calls)
def test_node_credentials_are_refused_on_another_bucket_and_outside_the_runs_paths(node_attempts):
    refused = ["read another bucket", "list another bucket", "write another bucket",
               "read another prefix of the input bucket", "write the input", "overwrite the bootstrap",
               "write next to the output"]
    assert {what: node_attempts[what] for what in refused} == dict.fromkeys(refused, False)


def test_prepare_account_refuses_a_name_iam_would_not_take(moto, aws_env):
    process = run_script("prepare-account.sh", PROJECT, "--input", INPUT, "--output", OUTPUT, "--name", "my cluster",
                         env=aws_env)
    assert process.returncode != 0 and "--name must be 1 to 59 letters" in process.stderr
