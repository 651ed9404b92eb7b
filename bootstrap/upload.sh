#!/bin/bash
# Uploads what the cluster needs to s3://BUCKET/PREFIX with the AWS CLI: the notebook, the papermill
# parameter files, the node-side scripts (the bootstrap action and the step's script) and the lock
# files that the bootstrap installs (the Configurations travel in the cluster's request). With --wheelhouse, also the wheels that `make wheelhouse` downloaded (build/wheelhouse),
# for clusters without internet (docs/emr-install.md). Run it again after any change: it overwrites
# the same keys (and removes wheels that the wheelhouse no longer has).
#
# Usage:
#   bootstrap/upload.sh s3://BUCKET/PREFIX [--region REGION] [--wheelhouse]
#   --region REGION   [eu-west-1]  the bucket's region: checked, the upload stops if it is another
#   --allow-region REGION          also allow REGION, outside the EU (the default allows only EU regions)
#   --wheelhouse                   also the wheels of `make wheelhouse` (build/wheelhouse)
#
# Layout written:
#   PREFIX/notebooks/featurize.ipynb  PREFIX/params/*.yaml
#   PREFIX/requirements.lock  PREFIX/requirements-worker.lock
#   PREFIX/bootstrap/{install-packages.sh,run-notebook.sh}
#   PREFIX/wheelhouse/{primary,worker}/*.whl  (with --wheelhouse)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"
WHEELHOUSE="${WHEELHOUSE:-$REPO/build/wheelhouse}"  # where `make wheelhouse` puts it

[ $# -ge 1 ] || usage
project_argument "$1"
shift
upload_wheelhouse="no"
parse_options "--wheelhouse=upload_wheelhouse:yes" "$@"
check_region_allowed
require_aws
check_buckets_in_region "$project"

# One set of wheels per kind of node, each downloaded from its lock by `make wheelhouse`: checked
# before anything is uploaded.
check_wheels() {
  local package_set="$1" lock="$2"
  [ "$WHEELHOUSE/$package_set/.done" -nt "$REPO/$lock" ] \
    || fail "$WHEELHOUSE/$package_set is missing or older than $lock: run make wheelhouse first"
}
if [ "$upload_wheelhouse" = "yes" ]; then
  check_wheels primary requirements.lock
  check_wheels worker requirements-worker.lock
fi

cd "$REPO"  # before the list: params/*.yaml expands here
files=(
  notebooks/featurize.ipynb
  params/*.yaml
  requirements.lock
  requirements-worker.lock
  bootstrap/install-packages.sh
  bootstrap/run-notebook.sh
)
# The files in their layout in a staging folder, then one recursive copy (one request per file,
# one AWS CLI start for all).
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
for file in "${files[@]}"; do
  [ -f "$file" ] || fail "$REPO/$file is missing"
  mkdir -p "$staging/$(dirname "$file")"
  cp "$file" "$staging/$file"
done
aws s3 cp --recursive --only-show-errors --region "$region" "$staging" "$project" \
  || fail "could not upload to $project (does the bucket exist? 'aws s3 mb s3://BUCKET')"
log "uploaded ${files[*]} to $project/"

upload_wheels() {
  local package_set="$1"
  aws s3 sync --only-show-errors --delete --exclude .done --region "$region" \
    "$WHEELHOUSE/$package_set" "$project/wheelhouse/$package_set" \
    || fail "could not upload $WHEELHOUSE/$package_set to $project/wheelhouse/$package_set"
  log "uploaded $project/wheelhouse/$package_set"
}
if [ "$upload_wheelhouse" = "yes" ]; then
  upload_wheels primary
  upload_wheels worker
fi

log "OK: ${#files[@]} files uploaded to $project; wheelhouse: $upload_wheelhouse"
