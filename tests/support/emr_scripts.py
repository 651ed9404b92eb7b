"""Running the scripts of bootstrap/ as a user does, from outside the project, and the S3 objects
they expect, put into moto."""

import json
import subprocess
import tempfile
import time
from urllib.parse import urlparse

from support.helpers import REPO

BOOTSTRAP = REPO / "bootstrap"


def run_script(name, *args, env, timeout=600):
    """Run bootstrap/<name> with `args` in `env`; return the finished process."""
    return subprocess.run(["bash", str(BOOTSTRAP / name), *map(str, args)], cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, env=env, timeout=timeout)


def start_script(name, *args, env):
    """Start bootstrap/<name> in the background; return the running process."""
    return subprocess.Popen(["bash", str(BOOTSTRAP / name), *map(str, args)], cwd=tempfile.gettempdir(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def bucket_and_key(uri):
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def make_bucket(moto, name, region="eu-west-1"):
    """Create bucket `name` in `region` (as `aws s3 mb --region` does)."""
    client = moto.client("s3", region)
    configuration = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    client.create_bucket(Bucket=name, **configuration)


def put_object(moto, uri, body=b""):
    bucket, key = bucket_and_key(uri)
    moto.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def project_with_bootstrap(moto, project, region="eu-west-1"):
    """The project's bucket in `region`, holding what a cluster reads at start-up, as after
    upload.sh (create-cluster.sh checks that the bootstrap is there); returns `project`."""
    bucket, _ = bucket_and_key(project)
    make_bucket(moto, bucket, region)
    put_object(moto, f"{project}/bootstrap/install-packages.sh", b"#!/bin/bash\n")
    return project


def read_object(moto, uri):
    bucket, key = bucket_and_key(uri)
    return moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def clusters_named(moto, name):
    """Ids of the EMR clusters called `name`, oldest first."""
    clusters = moto.client("emr").list_clusters()["Clusters"]
    return [cluster["Id"] for cluster in sorted(clusters, key=lambda c: c["Status"]["Timeline"]["CreationDateTime"])
            if cluster["Name"] == name]


def wait_for_new_cluster(moto, name, process, before=(), timeout=120):
    """The id of the cluster called `name`, not among `before`, once the running `process` has created it."""
    deadline = time.monotonic() + timeout
    while not set(clusters_named(moto, name)) - set(before):
        assert process.poll() is None, f"the script ended before creating {name}: {process.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no new cluster {name} after {timeout} s"
        time.sleep(0.2)
    [cluster_id] = set(clusters_named(moto, name)) - set(before)
    return cluster_id


def aws_cli(env, *args):
    """The AWS CLI's output for `args`, which must succeed."""
    process = subprocess.run(["aws", *map(str, args)], env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    return process.stdout


def describe_cluster(env, cluster_id, region="eu-west-1"):
    """`aws emr describe-cluster`: AWS CLI 1 adds the instance groups and bootstrap actions to it
    (ListInstanceGroups, ListBootstrapActions)."""
    return json.loads(aws_cli(env, "emr", "describe-cluster", "--region", region, "--cluster-id", cluster_id))["Cluster"]
