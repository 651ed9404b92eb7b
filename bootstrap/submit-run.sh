#!/bin/bash
# Starts a headless run of the notebook on a running cluster: adds an EMR step that copies
# bootstrap/run-notebook.sh from S3 to the primary node and runs it (papermill, params/emr.yaml,
# the executed notebook written to s3://BUCKET/PREFIX/runs/RUN_ID/featurize.ipynb). A cell that
# runs longer than --cell-timeout fails the step, so that a hung cell cannot keep the cluster busy
# (and billing) for ever: the idle timeout counts only an idle cluster.
#
# Usage:
#   bootstrap/submit-run.sh CLUSTER_ID s3://BUCKET/PREFIX [--region REGION] [papermill options]
#   --region REGION   [eu-west-1]  the cluster's region, anywhere among the arguments; the project's
#                                  bucket, and those of -p input_path, output_path, weights, must be there
#   --allow-region REGION          also allow REGION, outside the EU (the default allows only EU regions)
#   --cell-timeout SECONDS [7200]  papermill's --execution-timeout: the longest a cell may run (the
#                                  full Fruits-360's longest cell takes a few minutes on the default cluster)
#   papermill options, passed on as they are: -p NAME VALUE (repeatable), --log-level LEVEL...
#   e.g. bootstrap/submit-run.sh j-2AB3CD4EF5GH s3://my-bucket/fruits-featurize -p pca_k 50
#
# Steps and command-runner.jar: https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-commandrunner.html
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"
# shellcheck source-path=SCRIPTDIR source=emr-cluster.sh
source "$HERE/emr-cluster.sh"

# The two positional arguments first, then papermill's options; --region anywhere. -p and -r take
# a name and a value, kept together (a value may be any text).
positional=()
papermill_args=()
cell_timeout=7200
while [ $# -gt 0 ]; do
  if common_option "$@"; then shift 2; continue; fi
  case "$1" in
    --cell-timeout|--execution-timeout) [ $# -ge 2 ] || usage; cell_timeout="$2"; shift 2; continue ;;
  esac
  if [ ${#positional[@]} -lt 2 ]; then
    case "$1" in -*) usage ;; esac
    positional+=("$1")
    shift
    continue
  fi
  case "$1" in
    -p|-r) [ $# -ge 3 ] || usage; papermill_args+=("$1" "$2" "$3"); shift 3 ;;
    *) papermill_args+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -eq 2 ] || usage
[[ "$cell_timeout" =~ ^[1-9][0-9]*$ ]] || fail "--cell-timeout must be a whole number of seconds, not '$cell_timeout'"
cluster_id="${positional[0]}"
project_argument "${positional[1]}"
check_region_allowed
require_aws
# The buckets of the paths this run's parameters name (the others are the cluster's own, checked
# when it was created).
paths=("$project")
for ((i = 0; i + 2 < ${#papermill_args[@]}; i++)); do
  case "${papermill_args[i]} ${papermill_args[i + 1]}" in
    "-p input_path"|"-p output_path"|"-p weights") paths+=("${papermill_args[i + 2]}") ;;
  esac
done
check_buckets_in_region "${paths[@]}"

run_id="$(date -u +%Y%m%dT%H%M%SZ)"
executed="$project/runs/$run_id/featurize.ipynb"

# ActionOnFailure CONTINUE: a failed run leaves the interactive cluster up for the next one.
steps="$(notebook_step_json "featurize $run_id" CONTINUE "$project" "$executed" \
  ${papermill_args[@]+"${papermill_args[@]}"} --execution-timeout "$cell_timeout")"

step_id="$(aws emr add-steps --region "$region" --cluster-id "$cluster_id" \
  --steps "$steps" --query 'StepIds[0]' --output text)" \
  || fail "aws emr add-steps failed (see the error above): is $cluster_id running in $region? 'aws emr list-clusters --active --region $region'"

log "follow it: aws emr wait step-complete --region $region --cluster-id $cluster_id --step-id $step_id"
log "its log: $project/logs/$cluster_id/steps/$step_id/stderr.gz (a few minutes after it ends)"
echo "$step_id"
log "OK: step $step_id added to $cluster_id; executed notebook -> $executed; a cell running over ${cell_timeout}s fails it"
