#!/bin/bash
# Sourced by create-cluster.sh, run-on-emr.sh and submit-run.sh, never run on its own: the parts of
# their AWS CLI requests that interactive and transient clusters share, so that they cannot drift
# apart. Defines RELEASE_LABEL, json_string, notebook_step_json and cluster_request.
#
# Options of `aws emr create-cluster`: https://docs.aws.amazon.com/cli/latest/reference/emr/create-cluster.html
# Instance groups: the CLI's --instance-groups keys are those of its own schema (awscli
#   customizations/emr/argumentschema.py, INSTANCE_GROUPS_SCHEMA), not the API's: it has no Market.
#   The CLI sets Market SPOT when a group has a BidPrice (BidPrice=OnDemandPrice: spot, capped at
#   the on-demand price) and ON_DEMAND when it has none (customizations/emr/instancegroupsutils.py).
#   https://docs.aws.amazon.com/cli/latest/reference/emr/create-cluster.html
# Steps (ActionOnFailure): https://docs.aws.amazon.com/emr/latest/APIReference/API_StepConfig.html
set -euo pipefail

RELEASE_LABEL="emr-7.10.0"  # Spark 3.5.5 and Python 3.11: the pins of requirements.txt match it

# JSON string of $1 (a step's arguments can hold any characters).
json_string() {
  local value="${1//\\/\\\\}"
  printf '"%s"' "${value//\"/\\\"}"
}

# notebook_step_json NAME ACTION_ON_FAILURE PROJECT EXECUTED [papermill options...]
# The --steps JSON of one step that runs `bash -c SCRIPT run-notebook PROJECT EXECUTED ARGS...` on
# the primary node through command-runner.jar: SCRIPT copies bootstrap/run-notebook.sh from the
# project in S3 and runs it, and the arguments reach it as "$@", never re-parsed by a shell.
notebook_step_json() {
  local name="$1" action_on_failure="$2"
  shift 2
  # shellcheck disable=SC2016  # expanded by the step's bash, not here
  local script='aws s3 cp --only-show-errors "$1/bootstrap/run-notebook.sh" /tmp/run-notebook.sh && exec bash /tmp/run-notebook.sh "$@"'
  local args argument
  args="$(json_string bash),$(json_string -c),$(json_string "$script"),$(json_string run-notebook)"
  for argument in "$@"; do
    args="$args,$(json_string "$argument")"
  done
  printf '[{"Type": "CUSTOM_JAR", "Name": %s, "ActionOnFailure": "%s", "Jar": "command-runner.jar", "Args": [%s]}]\n' \
    "$(json_string "$name")" "$action_on_failure" "$args"
}

# The --instance-groups key that asks for MARKET (ON_DEMAND or SPOT): none, or a spot bid capped at
# the on-demand price.
market_key() {
  [ "$1" = ON_DEMAND ] || printf ',BidPrice=OnDemandPrice'
}

# cluster_request WORKDIR
# Sets the array `request` to the arguments of `aws emr create-cluster` that every cluster of the
# project has: release, applications, instance groups, roles, bootstrap action, Configurations (with
# the project's bucket in place of YOUR-BUCKET, written to WORKDIR) and logs in S3. It reads the
# caller's variables: project (s3://BUCKET/PREFIX), region, name, primary_type, primary_market,
# core_type, core_count, core_market (ON_DEMAND or SPOT), key_name, subnet_id, weights and
# wheelhouse (both may be empty). With core_count 0 the cluster is the primary node alone, and EMR
# runs the YARN containers (the executors) on it. The caller adds how the cluster ends: an idle timeout or a step and
# --auto-terminate.
# shellcheck disable=SC2154,SC2034  # reads the caller's variables above; `request` is for the caller
cluster_request() {
  local workdir="$1"
  local here bucket bootstrap_args ec2_attributes
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bucket="${project#s3://}"
  bucket="${bucket%%/*}"
  # JupyterHub keeps its notebooks in the project's bucket (configurations.json names YOUR-BUCKET).
  sed "s/YOUR-BUCKET/$bucket/g" "$here/configurations.json" > "$workdir/configurations.json"

  bootstrap_args="--requirements,$project/requirements.lock,--worker-requirements,$project/requirements-worker.lock"
  [ -z "$wheelhouse" ] || bootstrap_args="$bootstrap_args,--wheelhouse,$wheelhouse"
  [ -z "$weights" ] || bootstrap_args="$bootstrap_args,--weights,$weights"
  ec2_attributes="InstanceProfile=EMR_EC2_DefaultRole"
  [ -z "$key_name" ] || ec2_attributes="$ec2_attributes,KeyName=$key_name"
  [ -z "$subnet_id" ] || ec2_attributes="$ec2_attributes,SubnetId=$subnet_id"

  local groups=("InstanceGroupType=MASTER,InstanceCount=1,InstanceType=$primary_type$(market_key "$primary_market")")
  [ "$core_count" -eq 0 ] \
    || groups+=("InstanceGroupType=CORE,InstanceCount=$core_count,InstanceType=$core_type$(market_key "$core_market")")

  request=(
    --region "$region"
    --name "$name"
    --release-label "$RELEASE_LABEL"
    --applications Name=Hadoop Name=Spark Name=Livy Name=JupyterHub
    --instance-groups "${groups[@]}"
    --service-role EMR_DefaultRole
    --ec2-attributes "$ec2_attributes"
    --bootstrap-actions "Path=$project/bootstrap/install-packages.sh,Name=install-python-packages,Args=[$bootstrap_args]"
    --configurations "file://$workdir/configurations.json"
    --log-uri "$project/logs/"
  )
}
