#!/bin/bash
# Headless run of the notebook on the EMR primary node, as an EMR step (bootstrap/submit-run.sh adds
# it): papermill executes the notebook from S3 with params/emr.yaml on the `python3` kernel that the
# bootstrap registered, and writes the executed notebook to S3. The notebook then starts its own
# Spark session on YARN (spark_master = yarn) with EMR's Spark and the cluster's configuration; no
# Livy session is involved, so none can time out or be left open, and a failing cell fails the step.
#
# Usage:
#   run-notebook.sh s3://BUCKET/PREFIX s3://BUCKET/PREFIX/runs/RUN/featurize.ipynb [papermill options]
#   e.g. papermill options: -p output_path s3://BUCKET/features/run-2 -p pca_k 50
# Environment: PYTHON [/usr/bin/python3.11], SPARK_MASTER [yarn], SPARK_HOME [/usr/lib/spark on EMR].
# The same script runs anywhere with a Python that has requirements.txt installed (the tests run it
# against a local Spark and an S3 endpoint on loopback).
set -euo pipefail

PYTHON="${PYTHON:-/usr/bin/python3.11}"
SPARK_MASTER="${SPARK_MASTER:-yarn}"
INSTANCE_INFO="${EMR_INSTANCE_INFO:-/mnt/var/lib/info/instance.json}"  # written by EMR on each node: isMaster
EMR_SPARK_HOME=/usr/lib/spark

log() { echo "[run-notebook $(date -u +%H:%M:%S)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

usage() {
  echo "usage: $0 s3://BUCKET/PREFIX EXECUTED_NOTEBOOK_URI [papermill options]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
project="${1%/}"
executed="$2"
shift 2

# A YARN client driver belongs on the primary node; EMR steps run there.
if [ -f "$INSTANCE_INFO" ] && ! grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$INSTANCE_INFO"; then
  fail "this is not the primary node: submit the run as an EMR step with bootstrap/submit-run.sh"
fi

# EMR's own Spark (and its spark-defaults from configurations.json), not a pip-installed pyspark.
if [ -d "${SPARK_HOME:-$EMR_SPARK_HOME}/python" ]; then
  export SPARK_HOME="${SPARK_HOME:-$EMR_SPARK_HOME}"
  py4j_zip="$(ls "$SPARK_HOME"/python/lib/py4j-*-src.zip)"
  export PYTHONPATH="$SPARK_HOME/python:$py4j_zip${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PYTHON" -c "import pyspark, papermill" 2>/dev/null \
  || fail "$PYTHON cannot import pyspark and papermill: was the cluster created with bootstrap/create-cluster.sh?"

log "running $project/notebooks/featurize.ipynb on Spark master $SPARK_MASTER -> $executed"
if ! "$PYTHON" -m papermill "$project/notebooks/featurize.ipynb" "$executed" \
      -k python3 -f "$project/params/emr.yaml" -p spark_master "$SPARK_MASTER" "$@" --log-output; then
  fail "the notebook stopped with an error: open $executed (the failing cell shows it) and this step's stderr"
fi
log "OK: executed notebook written to $executed"
