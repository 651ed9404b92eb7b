"""What the scripts of bootstrap/ refuse before they create anything: the cheap checks of the fast
tier (the clusters themselves are slow: test_create_cluster.py, test_run_on_emr.py)."""

import pytest

from support.emr_scripts import clusters_named, project_with_bootstrap, run_script

BUCKET = "refusals-project"
PROJECT = f"s3://{BUCKET}/fruits-featurize"
PATHS = ["--input", f"s3://{BUCKET}/images", "--output", f"s3://{BUCKET}/features"]


@pytest.fixture(scope="module")
def project(moto):
    return project_with_bootstrap(moto, PROJECT)


def test_create_cluster_stops_before_creating_anything_when_the_wheelhouse_is_not_uploaded(moto, project, aws_env):
    process = run_script("create-cluster.sh", PROJECT, *PATHS, "--wheelhouse", f"s3://{BUCKET}/no-wheels",
                         "--name", "no-wheelhouse", env=aws_env)
    assert process.returncode != 0
    assert f"run make wheelhouse, then bootstrap/upload.sh {PROJECT} --wheelhouse" in process.stderr
    assert not clusters_named(moto, "no-wheelhouse")


def test_create_cluster_stops_before_creating_anything_when_the_bootstrap_is_not_uploaded(moto, project, aws_env):
    process = run_script("create-cluster.sh", f"s3://{BUCKET}/not-uploaded", *PATHS, "--name", "not-uploaded",
                         env=aws_env)
    assert process.returncode != 0
    assert f"run bootstrap/upload.sh s3://{BUCKET}/not-uploaded first" in process.stderr
    assert not clusters_named(moto, "not-uploaded")


@pytest.mark.parametrize("idle_timeout", ["0", "59", "604801", "never"])
def test_create_cluster_refuses_an_idle_timeout_emr_would_not_apply(idle_timeout, aws_env):
    process = run_script("create-cluster.sh", PROJECT, "--idle-timeout", idle_timeout, env=aws_env)
    assert process.returncode != 0 and "--idle-timeout must be 60 to 604800 seconds" in process.stderr


@pytest.mark.parametrize("script, arguments", [
    ("run-on-emr.sh", [PROJECT, "--images", "10", "--plan"]),
    ("create-cluster.sh", [PROJECT, *PATHS]),
    ("upload.sh", [PROJECT]),
    ("prepare-account.sh", [PROJECT, *PATHS, "--plan"]),
])
def test_an_unknown_option_prints_the_scripts_usage(script, arguments, aws_env):
    process = run_script(script, *arguments, "--colour", "red", env=aws_env)
    assert process.returncode == 2
    assert process.stderr.startswith(f"Usage:\n  bootstrap/{script} s3://BUCKET/PREFIX")
