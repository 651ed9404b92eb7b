"""S3 for real: the session's moto server on loopback is the S3 endpoint; bootstrap/upload.sh puts
the project there with the AWS CLI, and bootstrap/run-notebook.sh (the EMR step's script) runs the
whole notebook from there with s3:// input, weights and output.

Nothing names the endpoint in the notebook. It is configured the standard ways, as a user of MinIO
or another S3-compatible store would: AWS_ENDPOINT_URL(_S3) and the credential variables for the AWS
CLI, boto3 (papermill), and s3fs (weights, parquet read-back, CSV); Spark's own configuration for
the Hadoop S3A connector that lists and reads the images and writes the parquet. The S3A jars come
from the test-only requirements-s3a-test.txt; `fs.s3.impl` maps EMR-style s3:// paths to S3A (on EMR,
EMRFS serves s3://).

The input holds 10,000 objects (the 20 fixture images and 9,980 empty .jpg files): the requests moto
records prove that the run lists the input prefix once, and the empty files end as rejects."""

import importlib.util
import json
import subprocess
import sys
import urllib.parse
from collections import Counter, namedtuple
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from support.contract import assert_output_contract
from support.emr_scripts import make_bucket
from support.helpers import CI_CLASSES, CI_PARAMS, CI_PER_CLASS, REPO, expect_success, notebook_env
from support.moto_server import CREDENTIALS
from sample_images import FRUITS

pytestmark = pytest.mark.slow

BUCKET = "fruits"
PROJECT = f"s3://{BUCKET}/fruits-featurize"
INPUT = f"s3://{BUCKET}/datasets/images"
WEIGHTS = f"s3://{BUCKET}/models/fixture.weights.h5"
OUTPUT = f"s3://{BUCKET}/features/run-1"
EXECUTED = f"{PROJECT}/runs/test/featurize.ipynb"
REGION = "eu-west-1"
INPUT_OBJECTS = 10_000  # the fixture images and empty .jpg files beside them, in the same label folders


def s3a_jars():
    """hadoop-aws and the AWS SDK bundle it was built against, from sagemaker-pyspark's jars/ folder."""
    package = importlib.util.find_spec("sagemaker_pyspark")
    if package is None:
        pytest.fail("the test-only S3A jars are missing: pip install --no-deps -r requirements-s3a-test.txt "
                    "(make test does it)")
    jars = Path(package.submodule_search_locations[0]) / "jars"
    return [jars / "hadoop-aws-3.3.1.jar", jars / "aws-java-sdk-bundle-1.11.901.jar"]


def spark_submit_args(endpoint):
    """PYSPARK_SUBMIT_ARGS for S3A on `endpoint`: read by the local Spark that the notebook starts."""
    conf = {"fs.s3a.endpoint": endpoint, "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false", "fs.s3a.access.key": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "fs.s3a.secret.key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem"}
    args = ["--jars", ",".join(map(str, s3a_jars()))]
    for name, value in conf.items():
        args += ["--conf", f"spark.hadoop.{name}={value}"]
    return " ".join(args + ["pyspark-shell"])


@pytest.fixture(scope="module")
def s3_endpoint(moto):
    """The moto server's endpoint, with this module's empty bucket."""
    make_bucket(moto, BUCKET, REGION)
    return moto.endpoint


def s3_client(moto):
    return moto.client("s3", REGION)


def s3_environment(moto, home):
    """What a user of an S3-compatible store sets: endpoint and credential variables (the AWS CLI's
    environment of support.moto_server), Spark's S3A configuration; no AWS configuration files and
    no instance metadata, so only loopback is used."""
    return {**notebook_env(), **moto.environment(home), "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": moto.endpoint, "PYSPARK_SUBMIT_ARGS": spark_submit_args(moto.endpoint)}


def s3_key(uri):
    return uri[len(f"s3://{BUCKET}/"):]


@pytest.fixture(scope="module")
def uploaded_project(moto, s3_endpoint, tmp_path_factory):
    """bootstrap/upload.sh PROJECT run with the AWS CLI against moto."""
    home = tmp_path_factory.mktemp("upload")
    return expect_success(subprocess.run(["bash", str(REPO / "bootstrap" / "upload.sh"), PROJECT, "--region", REGION],
                                         cwd=home, env=s3_environment(moto, home), capture_output=True, text=True,
                                         timeout=300))


def empty_keys(images, count):
    """`count` keys of empty .jpg files, spread over the fixture images' label folders."""
    labels = sorted(folder.name for folder in images.iterdir() if folder.is_dir())
    return [f"{s3_key(INPUT)}/{labels[i % len(labels)]}/empty-{i:05d}.jpg" for i in range(count)]


S3Run = namedtuple("S3Run", "client requests empty_files")


@pytest.fixture(scope="module")
def s3_run(moto, uploaded_project, ci_inputs, tmp_path_factory):
    """The headless run script on the fixture images in S3 beside enough empty .jpg files to make
    INPUT_OBJECTS objects: params/emr.yaml from S3, overridden with the S3 locations of this test and
    the small sizes of params/ci.yaml, local[2] instead of YARN, the linear probe off. Gives the S3
    client, the requests moto received during the run and the number of empty files."""
    images, weights = ci_inputs
    client = s3_client(moto)
    image_files = sorted(images.rglob("*.jpg"))
    for image in image_files:
        client.upload_file(str(image), BUCKET, f"{s3_key(INPUT)}/{image.relative_to(images)}")
    empty = empty_keys(images, INPUT_OBJECTS - len(image_files))
    moto.put_empty_objects(BUCKET, empty)
    client.upload_file(str(weights), BUCKET, s3_key(WEIGHTS))
    # The linear probe off: it reads nothing from S3 (the python3, PySpark-kernel and colour runs have it).
    overrides = {**{name: value for name, value in CI_PARAMS.items() if name != "spark_master"},
                 "input_path": INPUT, "weights": WEIGHTS, "output_path": OUTPUT, "probe_test_fraction": 0}
    papermill_options = [item for name, value in overrides.items() for item in ("-p", name, str(value))]
    home = tmp_path_factory.mktemp("s3-run")  # no project files in the working folder: all from S3
    with moto.recording() as requests:
        expect_success(subprocess.run(["bash", str(REPO / "bootstrap" / "run-notebook.sh"), PROJECT, EXECUTED,
                                       *papermill_options], cwd=home, capture_output=True, text=True, timeout=900,
                                      env={**s3_environment(moto, home), "PYTHON": sys.executable,
                                           "SPARK_MASTER": CI_PARAMS["spark_master"]}))
    return S3Run(client, requests, len(empty))


def test_upload_puts_notebook_params_locks_and_bootstrap_in_s3(moto, uploaded_project):
    client = s3_client(moto)
    for path in ["notebooks/featurize.ipynb", "params/emr.yaml", "requirements.lock", "requirements-worker.lock",
                 "bootstrap/install-packages.sh", "bootstrap/run-notebook.sh"]:
        stored = client.get_object(Bucket=BUCKET, Key=f"{s3_key(PROJECT)}/{path}")["Body"].read()
        assert stored == (REPO / path).read_bytes(), path


def test_headless_run_writes_the_executed_notebook_with_emr_parameters_to_s3(s3_run):
    executed = nbformat.reads(s3_run.client.get_object(Bucket=BUCKET, Key=s3_key(EXECUTED))["Body"].read().decode(), 4)
    assert not executed.metadata.papermill.exception
    parameters = executed.metadata.papermill.parameters
    emr_params = yaml.safe_load((REPO / "params" / "emr.yaml").read_text())
    assert set(emr_params) <= set(parameters)
    assert (parameters["input_path"], parameters["weights"], parameters["output_path"]) == (INPUT, WEIGHTS, OUTPUT)
    assert not [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs
                if output.output_type == "error"]


def test_s3_run_meets_the_output_contract_with_paths_relative_to_the_s3_input(s3_endpoint, s3_run, ci_inputs):
    images, _ = ci_inputs
    storage = {"endpoint_url": s3_endpoint, "key": CREDENTIALS["AWS_ACCESS_KEY_ID"],
               "secret": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    features = pd.read_parquet(f"{OUTPUT}/features", storage_options=storage)
    csv = pd.read_csv(f"{OUTPUT}/pca_features.csv", storage_options=storage)
    relative = [str(path.relative_to(images)) for path in images.rglob("*.jpg")]
    assert_output_contract(features, csv, INPUT, relative, list(FRUITS)[:CI_CLASSES], CI_PARAMS["pca_k"])


def test_s3_run_is_committed_by_a_manifest_listing_every_output_on_s3_including_the_report(s3_run):
    manifest = json.loads(s3_run.client.get_object(Bucket=BUCKET, Key=f"{s3_key(OUTPUT)}/manifest.json")["Body"].read())
    images, empty = CI_CLASSES * CI_PER_CLASS, s3_run.empty_files
    assert manifest["counts"] == {"found": images + empty, "featurized": images, "rejected": empty}
    assert manifest["rejects_by_reason"] == {"empty file": empty}
    listed = s3_run.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{s3_key(OUTPUT)}/")["Contents"]
    on_s3 = sorted(item["Key"][len(s3_key(OUTPUT)) + 1:] for item in listed)
    outputs = set(manifest["outputs"])
    assert outputs <= set(on_s3)
    assert {"pca_features.csv", "report/explained_variance.png", "report/pca_scatter.png"} <= outputs
    assert any(path.startswith("features/part-") for path in outputs)


def input_listings(requests):
    """(prefix, delimiter, continuation token) of each page of the input that the run asked S3 to list,
    in order: LIST requests under the input prefix, leaving out the existence probes (max-keys 1 or 2)
    that S3A and s3fs send before they read a path."""
    pages = []
    for request in requests:
        path, _, query = request["url"].partition("?")
        arguments = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        listing = request["method"] == "GET" and path.rstrip("/").endswith(f"/{BUCKET}") and "prefix" in arguments
        if listing and arguments["prefix"].startswith(s3_key(INPUT)) and int(arguments.get("max-keys", 1000)) > 2:
            pages.append((arguments["prefix"], arguments.get("delimiter"),
                          arguments.get("continuation-token") or arguments.get("marker")))
    return pages


def test_s3_run_lists_the_input_once(s3_run, ci_inputs):
    """Spark's file index lists the root, then each label folder (S3A asks for 5,000 keys a page, which
    moto gives in one; real S3 gives 1,000 a page): one request per folder, none twice."""
    images, _ = ci_inputs
    pages = input_listings(s3_run.requests)
    assert [page for page, times in Counter(pages).items() if times > 1] == [], pages
    label_folders = [f"{s3_key(INPUT)}/{folder.name}/" for folder in sorted(images.iterdir()) if folder.is_dir()]
    assert sorted(pages) == [(folder, "/", None) for folder in [f"{s3_key(INPUT)}/", *label_folders]]
