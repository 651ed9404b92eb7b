#!/bin/bash
# Sourced by create-cluster.sh, run-on-emr.sh and submit-run.sh, never run on its own: the parts of
# their AWS CLI requests that interactive and transient clusters share, so that they cannot drift
# apart, and the price model of bootstrap/prices.tsv. Defines RELEASE_LABEL, json_string,
# notebook_step_json, PRICE_MODEL_AWK, prices_setting, cluster_usd_per_hour and cluster_request.
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
SERVICE_ROLE="fruits-featurize-emr-service"  # bootstrap/prepare-account.sh makes it, and NAME-node
# AmazonEMRServicePolicy_v2 acts only on resources with this tag: the cluster (EMR passes it on to its
# instances and volumes), its subnet, VPC and security groups (prepare-account.sh tags them).
EMR_TAG="for-use-with-amazon-emr-managed-policies"
# Encryption at rest (prepare-account.sh makes both): the EMR security configuration, and the alias
# of the KMS key of the local disks.
SECURITY_CONFIGURATION="fruits-featurize-at-rest"
# shellcheck disable=SC2034  # prepare-account.sh's
DISK_KEY_ALIAS="alias/fruits-featurize-disks"

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

# The price model of bootstrap/prices.tsv, as an awk program to put before a caller's own: it reads
# the `instance TYPE VCPUS MEMORY_GIB EC2_ON_DEMAND EMR_FEE EC2_SPOT` and `setting NAME VALUE` records
# of every file given before the caller's data (a setting of a later file replaces an earlier one),
# and defines node_usd_per_hour(TYPE, MARKET, DATA_GIB), the price of one node, all in: EC2 at its
# market's price, the EMR fee, its gp3 volumes (the root volume and a data volume of DATA_GIB) and
# its public IPv4 address; and data_volume_gib(IMAGES), the gp3 data volume of a node that
# featurizes IMAGES images. EBS is billed per second of a 30-day month (AWS's EBS pricing example).
# shellcheck disable=SC2016  # an awk program, not shell expansions
PRICE_MODEL_AWK='
  function node_usd_per_hour(type, market, data_gib,    ec2) {
    ec2 = market == "SPOT" ? ec2_spot[type] : ec2_on_demand[type]
    return ec2 + emr_fee[type] + (setting["root_volume_gib"] + data_gib) * setting["ebs_gp3_usd_per_gib_month"] / 720 \
           + setting["public_ipv4_usd_per_hour"]
  }
  function data_volume_gib(images,    gib) {
    gib = (setting["data_volume_fixed_gib"] + images * setting["data_volume_kib_per_image"] / 1048576) \
          / setting["data_volume_max_use"]
    return gib == int(gib) ? gib : int(gib) + 1
  }
  !prices_done {
    sub(/#.*/, "")
    if (NF == 0) next
    if ($1 == "instance" && NF == 7) { vcpus[$2] = $3; memory[$2] = $4; ec2_on_demand[$2] = $5; emr_fee[$2] = $6
                                       ec2_spot[$2] = $7; if (!($2 in known)) { known[$2] = 1; types[++type_count] = $2 }
                                       next }
    if ($1 == "setting" && NF == 3) { setting[$2] = $3; setting_file[$2] = FILENAME; next }
    printf "%s line %d is neither `instance TYPE VCPUS MEMORY_GIB EC2 EMR_FEE EC2_SPOT` nor `setting NAME VALUE`\n",
           FILENAME, FNR > "/dev/stderr"
    exit 1
  }
'

# prices_setting PRICES_FILE NAME: the value of `setting NAME VALUE` in the file.
prices_setting() {
  awk -v name="$2" '{ sub(/#.*/, "") } $1 == "setting" && $2 == name { value = $3 } END { print value }' "$1"
}

# cluster_usd_per_hour PRICES_FILE: the hourly price, all in, of the instance groups on stdin, one
# per line: TYPE MARKET INSTANCE_TYPE COUNT DATA_GIB (MASTER ON_DEMAND m5.2xlarge 1 12).
cluster_usd_per_hour() {
  awk -v prices="$1" "$PRICE_MODEL_AWK"'
    prices_done && NF == 5 {
      if (!($3 in known)) { printf "%s has no `instance %s` line\n", prices, $3 > "/dev/stderr"; bad = 1; exit 1 }
      total += $4 * node_usd_per_hour($3, $2, $5)
    }
    END { if (!bad) printf "%.4f\n", total }' "$1" prices_done=1 -
}

# instance_group_json TYPE INSTANCE_TYPE COUNT MARKET DATA_GIB: one group of --instance-groups, as
# the CLI's JSON: on spot with a bid capped at the on-demand price, and one gp3 data volume.
instance_group_json() {
  local bid=""
  [ "$4" = ON_DEMAND ] || bid='"BidPrice": "OnDemandPrice", '
  printf '{"InstanceGroupType": "%s", "InstanceType": "%s", "InstanceCount": %d, %s' "$1" "$2" "$3" "$bid"
  printf '"EbsConfiguration": {"EbsBlockDeviceConfigs": [{"VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": %d}, "VolumesPerInstance": 1}]}}' "$5"
}

# cluster_request WORKDIR
# Sets the array `request` to the arguments of `aws emr create-cluster` that every cluster of the
# project has: release, applications, instance groups with their EBS volumes, roles, bootstrap
# action, Configurations (the files named, merged, with the project's bucket in place of
# YOUR-BUCKET, written to WORKDIR) and logs in S3. It reads the caller's variables: the arrays
# applications (Name=Spark ...) and configuration_files (in bootstrap/), project (s3://BUCKET/PREFIX), region, name,
# primary_type, primary_market, primary_data_gib, core_type, core_count, core_market (ON_DEMAND or
# SPOT), core_data_gib, subnet_id (from prepare-account.sh), key_name, weights and wheelhouse (these
# three may be empty), and prices (bootstrap/prices.tsv: the root volume's size). The roles and the
# security configuration are prepare-account.sh's: the service role, the node role NAME-node. With core_count 0 the cluster is the
# primary node alone, and EMR runs the YARN containers (the executors) on it. The caller adds how
# the cluster ends: an idle timeout, or a step and --auto-terminate.
# EBS volumes set explicitly (else EMR attaches its defaults, 128 GiB to a 2xlarge instance):
#   https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-storage.html
# Root volume (15 GiB, gp3, by default since EMR 6.15): https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-custom-ami-root-volume-size.html
# shellcheck disable=SC2154,SC2034  # reads the caller's variables above; `request` is for the caller
cluster_request() {
  local workdir="$1"
  local here bucket bootstrap_args ec2_attributes
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bucket="${project#s3://}"
  bucket="${bucket%%/*}"
  # One JSON list from the files' lists. JupyterHub keeps its notebooks in the project's bucket
  # (configurations-interactive.json names YOUR-BUCKET).
  local file merged="[" separator=""
  for file in "${configuration_files[@]}"; do
    merged="$merged$separator$(sed -e '1s/^\[//' -e '$s/\]$//' "$here/$file")"
    separator=","
  done
  printf '%s]\n' "$merged" | sed "s/YOUR-BUCKET/$bucket/g" > "$workdir/configurations.json"

  bootstrap_args="--requirements,$project/requirements.lock,--worker-requirements,$project/requirements-worker.lock"
  [ -z "$wheelhouse" ] || bootstrap_args="$bootstrap_args,--wheelhouse,$wheelhouse"
  [ -z "$weights" ] || bootstrap_args="$bootstrap_args,--weights,$weights"
  ec2_attributes="InstanceProfile=$name-node,SubnetId=$subnet_id"
  [ -z "$key_name" ] || ec2_attributes="$ec2_attributes,KeyName=$key_name"

  {
    printf '[%s' "$(instance_group_json MASTER "$primary_type" 1 "$primary_market" "$primary_data_gib")"
    [ "$core_count" -eq 0 ] \
      || printf ',\n %s' "$(instance_group_json CORE "$core_type" "$core_count" "$core_market" "$core_data_gib")"
    printf ']\n'
  } > "$workdir/instance-groups.json"

  request=(
    --region "$region"
    --name "$name"
    --release-label "$RELEASE_LABEL"
    --applications "${applications[@]}"
    --instance-groups "file://$workdir/instance-groups.json"
    --ebs-root-volume-size "$(prices_setting "$prices" root_volume_gib)"
    --service-role "$SERVICE_ROLE"
    --ec2-attributes "$ec2_attributes"
    --bootstrap-actions "Path=$project/bootstrap/install-packages.sh,Name=install-python-packages,Args=[$bootstrap_args]"
    --configurations "file://$workdir/configurations.json"
    --log-uri "$project/logs/"
    --tags "$EMR_TAG=true"
    --security-configuration "$SECURITY_CONFIGURATION"
  )
}
