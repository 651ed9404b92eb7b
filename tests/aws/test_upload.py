"""bootstrap/upload.sh with the real AWS CLI against moto: what lands in the project's prefix."""

import pytest

from support.emr_scripts import make_bucket, read_object, run_script
from support.helpers import REPO

BUCKET = "upload-project"
PROJECT = f"s3://{BUCKET}/fruits-featurize"
UPLOADED = ["notebooks/featurize.ipynb", "requirements.lock", "requirements-worker.lock",
            "bootstrap/install-packages.sh", "bootstrap/run-notebook.sh",
            *[f"params/{path.name}" for path in (REPO / "params").glob("*.yaml")]]


@pytest.fixture(scope="module")
def bucket(moto):
    make_bucket(moto, BUCKET)
    return moto.client("s3")


def keys(client, prefix):
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix):] for item in listed}


def test_upload_copies_notebook_params_locks_and_bootstrap_to_the_project_prefix(moto, bucket, aws_env):
    process = run_script("upload.sh", PROJECT, env=aws_env)
    assert process.returncode == 0, process.stderr
    assert keys(bucket, "fruits-featurize/") == set(UPLOADED)
    for path in UPLOADED:
        assert read_object(moto, f"{PROJECT}/{path}") == (REPO / path).read_bytes(), path


def test_upload_with_wheelhouse_copies_each_nodes_wheels_and_removes_stale_ones(moto, bucket, aws_env, tmp_path):
    bucket.put_object(Bucket=BUCKET, Key="wheels-project/wheelhouse/worker/stale-0.1-py3-none-any.whl", Body=b"old")
    for package_set in ["primary", "worker"]:
        (tmp_path / package_set).mkdir()
        (tmp_path / package_set / f"{package_set}-1.0-py3-none-any.whl").write_text(package_set)
        (tmp_path / package_set / ".done").touch()
    process = run_script("upload.sh", f"s3://{BUCKET}/wheels-project", "--wheelhouse",
                         env={**aws_env, "WHEELHOUSE": str(tmp_path)})
    assert process.returncode == 0, process.stderr
    assert keys(bucket, "wheels-project/wheelhouse/") == {"primary/primary-1.0-py3-none-any.whl",
                                                          "worker/worker-1.0-py3-none-any.whl"}


def test_upload_with_wheelhouse_stops_when_make_wheelhouse_has_not_run(bucket, aws_env, tmp_path):
    process = run_script("upload.sh", f"s3://{BUCKET}/no-wheels", "--wheelhouse",
                         env={**aws_env, "WHEELHOUSE": str(tmp_path)})
    assert process.returncode != 0 and "run make wheelhouse first" in process.stderr
    assert not keys(bucket, "no-wheels/wheelhouse/")
