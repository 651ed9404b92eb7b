"""One moto server on loopback for every test that talks to AWS, and the environment in which the
real AWS CLI (awscli, from the dev lock) talks to it: S3, EMR, IAM, STS, KMS and EC2.

The server runs in the test process (moto's ThreadedMotoServer), so a test can also do what AWS does
on its own and moto's API cannot ask for: end an EMR step; and it can fill a bucket with many
objects at once (`put_empty_objects`). moto keeps a cluster's first step RUNNING
until something changes it, and neither its API nor its state manager has a setting for EMR steps
(moto/emr/models.py: `Cluster.add_steps`, no `state_manager` registration), so
`finish_cluster` sets the step's and the cluster's final state and timeline on moto's own model, as
EMR would report them.

What moto does not store (the auto-termination policy: `GetAutoTerminationPolicy` is not
implemented), a test reads from the request the CLI sent, through moto's request recorder
(`recording`). IAM policies are enforced only inside `iam_enforced` (moto's
INITIAL_NO_AUTH_ACTION_COUNT, set through the server's /moto-api/reset-auth)."""

import base64
import json
import os
import re
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

# moto's recorder writes where this variable says, read once when moto is imported (else into the
# working folder): set it first, one file per process (pytest-xdist's workers inherit the
# controller's environment, and two servers recording into one file interleave their lines).
# AWS's managed policies (AmazonEMRServicePolicy_v2) exist in moto's IAM only with the second one,
# so that attaching one is checked against AWS's list.
os.environ["MOTO_RECORDER_FILEPATH"] = str(Path(tempfile.mkdtemp(prefix="moto-recording-")) / "requests.jsonl")
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from moto.emr.models import emr_backends  # noqa: E402
from moto.s3.models import s3_backends  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REFUSING_PROXY = "http://127.0.0.1:9"  # nothing listens there: a request not meant for moto fails at once
AWS_SHIM = """#!/bin/bash
# The project's AWS CLI, every request sent to the moto server: awscli 1.x sends EMR requests in 20
# regions (eu-west-1 among them) to their legacy endpoint names whatever AWS_ENDPOINT_URL says
# (awscli/customizations/overridesslcommonname.py); the global option --endpoint-url overrides it.
exec {aws} --endpoint-url "$AWS_ENDPOINT_URL" "$@"
"""


class MotoServer:
    """moto on 127.0.0.1 and a free port, in this process."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def __enter__(self):
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.bin = self.folder / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        shim = self.bin / "aws"
        shim.write_text(AWS_SHIM.format(aws=Path(sys.executable).parent / "aws"))
        shim.chmod(0o755)
        return self

    def __exit__(self, *exc):
        self._server.stop()

    def environment(self, home: Path, **credentials) -> dict:
        """What a user of the AWS CLI sets, with moto as the endpoint: credentials, no configuration
        files, no instance metadata, every other address refused; the shim `aws` first on PATH."""
        return {**os.environ, **CREDENTIALS, **credentials,
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_CONFIG_FILE": str(home / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "HTTP_PROXY": REFUSING_PROXY, "HTTPS_PROXY": REFUSING_PROXY,
                "http_proxy": REFUSING_PROXY, "https_proxy": REFUSING_PROXY,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "PATH": f"{self.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def client(self, service: str, region: str = "eu-west-1", **credentials):
        """A boto3 client of moto (test set-up and the reads the CLI does not offer)."""
        import boto3

        keys = {"aws_access_key_id": credentials.get("AWS_ACCESS_KEY_ID", CREDENTIALS["AWS_ACCESS_KEY_ID"]),
                "aws_secret_access_key": credentials.get("AWS_SECRET_ACCESS_KEY", CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
                "aws_session_token": credentials.get("AWS_SESSION_TOKEN")}
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region, **keys)

    def _post(self, path: str, data: bytes = b"") -> bytes:
        # text/plain: with a form content type, the server reads the body as a form, not as data
        request = urllib.request.Request(f"{self.endpoint}{path}", data=data, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    @contextmanager
    def recording(self):
        """Yields a list that holds, once the block ends, every request moto received meanwhile:
        dicts with `method`, `url` (path and query), `target` (X-Amz-Target, such as
        ElasticMapReduce.RunJobFlow), `region` (of the request's signature) and `body` (parsed JSON,
        else the raw text)."""
        requests = []
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")
        try:
            yield requests
        finally:
            self._post("/moto-api/recorder/stop-recording")
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/recorder/download-recording", timeout=30) as answer:
                lines = answer.read().decode().splitlines()
            for line in lines:
                entry = json.loads(line)
                body = entry.get("body") or ""
                if entry.get("body_encoded"):
                    body = base64.b64decode(body).decode(errors="replace")
                try:
                    body = json.loads(body)
                except ValueError:
                    pass
                scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/", entry["headers"].get("Authorization", ""))
                requests.append({"method": entry.get("method"), "url": entry.get("url", ""),
                                 "target": entry["headers"].get("X-Amz-Target", ""),
                                 "region": scope.group(1) if scope else None, "body": body})

    @contextmanager
    def iam_enforced(self):
        """Every request inside the block must be signed by credentials that IAM (moto's) allows."""
        self._post("/moto-api/reset-auth", b"0")
        try:
            yield
        finally:
            self._post("/moto-api/reset-auth", b"inf")

    @staticmethod
    def emr_cluster(cluster_id: str):
        """moto's model of an EMR cluster (in whichever account and region moto filed it)."""
        for account_backends in emr_backends.values():
            for backend in account_backends.values():
                if cluster_id in backend.clusters:
                    return backend.clusters[cluster_id]
        raise KeyError(f"moto has no cluster {cluster_id}")

    @staticmethod
    def put_empty_objects(bucket: str, keys):
        """Store an empty object under each key of `bucket`, straight into moto's S3 model, as a PUT
        request would: for test set-up at volume (10,000 PUTs over HTTP take 50 s here, 1 s this way).
        What the code under test sends still goes through the server."""
        backend = next(backend for account_backends in s3_backends.values()
                       for backend in account_backends.values() if bucket in backend.buckets)
        for key in keys:
            backend.put_object(bucket, key, b"")

    def finish_cluster(self, cluster_id: str, step_state: str = "COMPLETED", *, created: str, ready: str,
                       step_end: str, ended: str, reason: str = "Steps completed"):
        """End a transient cluster as EMR does after its only step: the step in `step_state` (started
        when the cluster was ready), the cluster TERMINATED (TERMINATED_WITH_ERRORS if the step
        failed), with these ISO 8601 UTC times on its timeline."""
        cluster = self.emr_cluster(cluster_id)
        step = cluster.steps[0]
        step.state = step_state
        step.start_date_time, step.end_date_time = utc(ready), utc(step_end)
        cluster.creation_datetime, cluster.ready_datetime, cluster.end_datetime = utc(created), utc(ready), utc(ended)
        cluster.last_state_change_reason = reason
        cluster.state = "TERMINATED" if step_state == "COMPLETED" else "TERMINATED_WITH_ERRORS"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
