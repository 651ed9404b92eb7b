#!/bin/bash
# Starts a headless run of the notebook on a running cluster: adds an EMR step that copies
# bootstrap/run-notebook.sh from S3 to the primary node and runs it (papermill, params/emr.yaml,
# the executed notebook written to s3://BUCKET/PREFIX/runs/RUN_ID/featurize.ipynb).
#
# Usage:
#   bootstrap/submit-run.sh [--region REGION] CLUSTER_ID s3://BUCKET/PREFIX [papermill options]
#   e.g. bootstrap/submit-run.sh j-2AB3CD4EF5GH s3://my-bucket/fruits-featurize -p pca_k 50
#
# Steps and command-runner.jar: https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-commandrunner.html
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=emr-cluster.sh
source "$HERE/emr-cluster.sh"

log() { echo "[submit-run] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

usage() {
  echo "usage: $0 [--region REGION] CLUSTER_ID s3://BUCKET/PREFIX [papermill options]" >&2
  exit 2
}

region_args=()
if [ "${1:-}" = "--region" ]; then
  [ $# -ge 2 ] || usage
  region_args=(--region "$2")
  shift 2
fi
[ $# -ge 2 ] || usage
cluster_id="$1"
project="${2%/}"
shift 2
case "$project" in s3://?*) ;; *) usage ;; esac

command -v aws >/dev/null 2>&1 || fail "the AWS CLI is not installed: see https://aws.amazon.com/cli/ then run 'aws configure'"

run_id="$(date -u +%Y%m%dT%H%M%SZ)"
executed="$project/runs/$run_id/featurize.ipynb"

# ActionOnFailure CONTINUE: a failed run leaves the interactive cluster up for the next one.
steps="$(notebook_step_json "featurize $run_id" CONTINUE "$project" "$executed" "$@")"

step_id="$(aws emr add-steps ${region_args[@]+"${region_args[@]}"} --cluster-id "$cluster_id" \
  --steps "$steps" --query 'StepIds[0]' --output text)" \
  || fail "aws emr add-steps failed (see the error above): is $cluster_id running? 'aws emr list-clusters --active'"

log "follow it: aws emr wait step-complete ${region_args[*]+"${region_args[*]}"} --cluster-id $cluster_id --step-id $step_id"
log "its log: $project/logs/$cluster_id/steps/$step_id/stderr.gz (a few minutes after it ends)"
echo "$step_id"
log "OK: step $step_id added to $cluster_id; executed notebook -> $executed"
