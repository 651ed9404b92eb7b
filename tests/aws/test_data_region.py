"""Data stays in its region: the scripts stop before anything is created when a bucket the run
touches is in another region than the cluster, or when the region is outside the allowed ones (the
EU's, unless --allow-region adds one). (The security configuration that encrypts data at rest is read
back in test_create_cluster.py.)"""

import pytest

from support.emr_scripts import clusters_named, make_bucket, project_with_bootstrap, run_script

PROJECT = "s3://region-project/fruits-featurize"


@pytest.fixture(scope="module", autouse=True)
def buckets(moto):
    project_with_bootstrap(moto, PROJECT)
    make_bucket(moto, "region-virginia", "us-east-1")
    make_bucket(moto, "region-frankfurt", "eu-central-1")


def test_run_on_emr_stops_before_creating_anything_when_the_input_is_in_another_region(moto, aws_env):
    process = run_script("run-on-emr.sh", PROJECT, "--images", "10", "--name", "crossing", "-p", "input_path",
                         "s3://region-virginia/images", "-p", "output_path", "s3://region-project/out", env=aws_env)
    assert process.returncode != 0
    assert "bucket region-virginia is in us-east-1, the cluster in eu-west-1: data would cross regions" in process.stderr
    assert not clusters_named(moto, "crossing")
    assert "crossing-node" not in [role["RoleName"] for role in moto.client("iam").list_roles()["Roles"]]
    assert "Contents" not in moto.client("s3").list_objects_v2(Bucket="region-project", Prefix="fruits-featurize/notebooks")


def test_create_cluster_stops_before_creating_anything_when_the_output_is_in_another_region(moto, aws_env):
    process = run_script("create-cluster.sh", PROJECT, "--name", "crossing-interactive", "--input",
                         "s3://region-project/images", "--output", "s3://region-frankfurt/out", env=aws_env)
    assert process.returncode != 0
    assert "bucket region-frankfurt is in eu-central-1, the cluster in eu-west-1" in process.stderr
    assert not clusters_named(moto, "crossing-interactive")


def test_upload_stops_when_the_project_is_in_another_region(moto, aws_env):
    process = run_script("upload.sh", "s3://region-frankfurt/p", env=aws_env)
    assert process.returncode != 0 and "bucket region-frankfurt is in eu-central-1" in process.stderr
    assert "Contents" not in moto.client("s3").list_objects_v2(Bucket="region-frankfurt")


PATHS = ["--input", "s3://region-project/images", "--output", "s3://region-project/out"]
PARAMETERS = ["-p", "input_path", "s3://region-project/images", "-p", "output_path", "s3://region-project/out"]


@pytest.mark.parametrize("script, arguments", [
    ("run-on-emr.sh", [PROJECT, "--images", "10", "--plan", *PARAMETERS]),
    ("create-cluster.sh", [PROJECT, *PATHS]),
    ("upload.sh", [PROJECT]),
    ("submit-run.sh", ["j-2AB3CD4EF5GH", PROJECT]),
    ("prepare-account.sh", [PROJECT, *PATHS, "--plan"]),
])
def test_a_region_outside_the_eu_is_refused_before_any_request(moto, script, arguments, aws_env):
    with moto.recording() as requests:
        process = run_script(script, *arguments, "--region", "us-east-1", env=aws_env)
    assert process.returncode != 0 and requests == []
    assert "region us-east-1 is not among the allowed regions" in process.stderr
    assert "add --allow-region us-east-1" in process.stderr


def test_allow_region_widens_the_allowed_regions(aws_env):
    process = run_script("run-on-emr.sh", PROJECT, "--region", "us-east-1", "--allow-region", "us-east-1",
                         "--images", "10", "--plan", "-p", "input_path", "s3://region-virginia/images",
                         "-p", "output_path", "s3://region-virginia/out", "--measured", "/nonexistent", env=aws_env)
    assert process.returncode == 0, process.stderr
