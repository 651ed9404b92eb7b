#!/bin/bash
# Sourced by the operator-side scripts, the ones you run on your own machine (create-cluster.sh,
# run-on-emr.sh, submit-run.sh, upload.sh), never run on its own: their shared prelude. Defines log,
# fail, usage, require_aws, project_argument, emr_param, common_option, parse_options,
# check_region_allowed and check_buckets_in_region, and the defaults they set. The
# node-side scripts (install-packages.sh, run-notebook.sh) travel alone to the nodes and keep theirs.
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
set -euo pipefail

SCRIPT_NAME="$(basename "$0" .sh)"
BOOTSTRAP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BOOTSTRAP_DIR/.." && pwd)"
region="eu-west-1"  # the project's data lives in Europe (Ireland); --region changes it
# Where data may be processed: the EU regions. --allow-region adds one, as a decision of the user's.
allowed_regions="eu-central-1 eu-central-2 eu-north-1 eu-south-1 eu-south-2 eu-west-1 eu-west-2 eu-west-3"

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
# arguments: --region REGION and --allow-region REGION. Returns 1 when $1 is not one of them (the
# caller then reads it), and the caller shifts 2 when it is.
common_option() {
  case "$1" in
    --region) [ $# -ge 2 ] || usage; region="$2" ;;
    --allow-region) [ $# -ge 2 ] || usage; allowed_regions="$allowed_regions $2" ;;
    *) return 1 ;;
  esac
}

# parse_options "OPTION=variable ... FLAG=variable:value ..." ARGS...: reads the calling script's
# options, in any order: the common ones; each OPTION of the table, which sets its variable to the
# argument after it; each FLAG (its entry has a colon), which sets its variable to the text after
# the colon; and what the caller's function other_option takes, if it has one: it returns 1 for an
# argument it does not know, else sets `taken` to the number of arguments it read. Anything else is
# a usage error.
parse_options() {
  local table="$1" entry target taken
  shift
  while [ $# -gt 0 ]; do
    taken=0
    if common_option "$@"; then
      taken=2
    else
      for entry in $table; do
        [ "${entry%%=*}" = "$1" ] || continue
        target="${entry#*=}"
        case "$target" in
          *:*) printf -v "${target%%:*}" %s "${target#*:}"; taken=1 ;;
          *) [ $# -ge 2 ] || usage; printf -v "$target" %s "$2"; taken=2 ;;
        esac
        break
      done
      [ "$taken" -gt 0 ] || { declare -F other_option >/dev/null && other_option "$@"; } || usage
    fi
    shift "$taken"
  done
}

# check_region_allowed: stops unless the region is among the allowed ones.
check_region_allowed() {
  case " $allowed_regions " in
    *" $region "*) ;;
    *) fail "region $region is not among the allowed regions ($allowed_regions): data would be processed outside the EU. If that is your decision, add --allow-region $region" ;;
  esac
}

# check_buckets_in_region URI...: stops unless the bucket of every s3:// URI is in the region, so that
# no data crosses regions without a decision (EMRFS and S3A read and write across regions
# otherwise). Other URIs (a local path, "imagenet") are skipped. S3 says a bucket of us-east-1 is
# in None, and one of eu-west-1 made long ago may be in EU.
check_buckets_in_region() {
  local uri bucket location
  for bucket in $(for uri in "$@"; do case "$uri" in s3://?*) uri="${uri#s3://}"; echo "${uri%%/*}" ;; esac; done | sort -u); do
    location="$(aws s3api get-bucket-location --region "$region" --bucket "$bucket" --query LocationConstraint --output text)" \
      || fail "cannot read the region of bucket $bucket (see the error above): does it exist, may you read it?"
    case "$location" in None|"") location=us-east-1 ;; EU) location=eu-west-1 ;; esac
    [ "$location" = "$region" ] \
      || fail "bucket $bucket is in $location, the cluster in $region: data would cross regions. Run in $location (--region $location, if allowed) or copy the data to a bucket in $region"
  done
}
