#!/bin/bash
# Sourced by the operator-side scripts, the ones you run on your own machine (create-cluster.sh,
# run-on-emr.sh, submit-run.sh, upload.sh), never run on its own: their shared prelude. Defines log,
# fail, usage, require_aws, project_argument, emr_param and common_option, and the defaults they set. The
# node-side scripts (install-packages.sh, run-notebook.sh) travel alone to the nodes and keep theirs.
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
set -euo pipefail

SCRIPT_NAME="$(basename "$0" .sh)"
BOOTSTRAP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BOOTSTRAP_DIR/.." && pwd)"
region="eu-west-1"  # the project's data lives in Europe (Ireland); --region changes it

log() { echo "[$SCRIPT_NAME $(date -u +%H:%M:%S)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# The calling script's usage: its header from "# Usage:" to the next line holding only "#".
usage() {
  sed -n '/^# Usage:/,/^#$/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

require_aws() {
  command -v aws >/dev/null 2>&1 || fail "the AWS CLI is not installed: see https://aws.amazon.com/cli/ then run 'aws configure'"
}

# project_argument URI: the project's place in S3, s3://BUCKET/PREFIX, as `project` (without a
# trailing /) and `project_bucket`; anything else is a usage error.
project_argument() {
  project="${1%/}"
  case "$project" in s3://?*) ;; *) usage ;; esac
  project_bucket="${project#s3://}"
  project_bucket="${project_bucket%%/*}"
}

# emr_param NAME: the value of NAME in params/emr.yaml, the parameters of the runs on EMR.
emr_param() {
  sed -n "s/^$1:[[:space:]]*//p" "$REPO/params/emr.yaml" | tr -d "\"'"
}

# common_option ARGS...: takes the options every operator script accepts, anywhere among its
# arguments: --region REGION. Returns 1 when $1 is not one of them (the caller then reads it), and
# the caller shifts 2 when it is.
common_option() {
  case "$1" in
    --region) [ $# -ge 2 ] || usage; region="$2" ;;
    *) return 1 ;;
  esac
}
