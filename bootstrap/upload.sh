#!/bin/bash
# Uploads what the cluster needs to s3://BUCKET/PREFIX with the AWS CLI: the notebook, the papermill
# parameter files, the bootstrap scripts and configuration, and requirements.txt (which the
# bootstrap installs). Run it again after any change: it overwrites the same keys.
#
# Usage:
#   bootstrap/upload.sh s3://BUCKET/PREFIX [--region REGION]
# Layout written:
#   PREFIX/notebooks/featurize.ipynb  PREFIX/params/*.yaml  PREFIX/requirements.txt
#   PREFIX/bootstrap/{install-packages.sh,run-notebook.sh,configurations.json}
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"

log() { echo "[upload] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

usage() {
  echo "usage: $0 s3://BUCKET/PREFIX [--region REGION]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
project="${1%/}"
shift
case "$project" in s3://?*) ;; *) usage ;; esac
# (the ${a[@]+...} form below keeps an empty array safe under set -u in macOS bash 3.2)
region_args=()
if [ $# -gt 0 ]; then
  [ $# -eq 2 ] && [ "$1" = "--region" ] || usage
  region_args=(--region "$2")
fi

command -v aws >/dev/null 2>&1 || fail "the AWS CLI is not installed: see https://aws.amazon.com/cli/ then run 'aws configure'"

cd "$REPO"  # before the list: params/*.yaml expands here
files=(
  notebooks/featurize.ipynb
  params/*.yaml
  requirements.txt
  bootstrap/install-packages.sh
  bootstrap/run-notebook.sh
  bootstrap/configurations.json
)
for file in "${files[@]}"; do
  [ -f "$file" ] || fail "$REPO/$file is missing"
  aws s3 cp --only-show-errors ${region_args[@]+"${region_args[@]}"} "$file" "$project/$file" \
    || fail "could not upload $file to $project/$file (does the bucket exist? 'aws s3 mb s3://BUCKET')"
  log "uploaded $project/$file"
done

log "OK: ${#files[@]} files uploaded to $project"
