#!/bin/bash
# Creates an interactive EMR 7.10.0 cluster for the notebook with the AWS CLI: Hadoop, Spark, Livy and
# JupyterHub; the bootstrap action bootstrap/install-packages.sh on every node (the whole lock on the
# primary node, the workers' lock on the core nodes: docs/emr-install.md); the Configurations of
# bootstrap/configurations.json (Spark) and configurations-interactive.json (Livy, JupyterHub's
# notebooks kept in the project's bucket); gp3 volumes of a set size; logs in S3; and
# an idle auto-termination timeout (15 minutes by default), so a forgotten cluster stops costing money.
# For a headless run, bootstrap/run-on-emr.sh is cheaper: a right-sized cluster that ends with its run.
# Run bootstrap/upload.sh first: the cluster reads the bootstrap and the lock files from S3.
#
# Usage:
#   bootstrap/create-cluster.sh s3://BUCKET/PREFIX [options]
# Options (defaults in brackets):
#   --region REGION          [eu-west-1]   where the cluster runs; every bucket it touches must be there
#   --allow-region REGION    []            also allow REGION, outside the EU (the default allows only EU regions)
#   --primary-type TYPE      [m5.2xlarge]  primary node: JupyterHub, Livy and every driver (32 GiB: room for 3)
#   --core-type TYPE         [m5.2xlarge]  core nodes: 8 vCPUs, 32 GiB (configurations.json sizes executors for it)
#   --core-count N           [4]           32 task slots: params/emr.yaml's num_partitions is 3 times that
#   --input s3://...         [params/emr.yaml's input_path]   the images the nodes may read
#   --output s3://...        [params/emr.yaml's output_path]  where the nodes may write
#                                          (the nodes may touch no other bucket: bootstrap/prepare-account.sh)
#   --data-gib GIB           [32]          gp3 data volume of each node (HDFS, shuffle, cache spill, logs):
#                                          a full Fruits-360 run writes about 3 GiB in all (docs/emr-cost.md)
#   --idle-timeout SECONDS   [900]         terminate after this long idle (60 to 604800): no YARN application
#                                          (an open Livy session is one), no pending step, no UI in use
#   --key-name NAME          []            EC2 key pair, to reach JupyterHub and the primary node by SSH tunnel
#   --subnet-id ID           []            a subnet of your VPC (default: the default VPC's first default subnet)
#   --weights s3://...h5     []            copy this weights file to every node (clusters without internet)
#   --wheelhouse s3://...    []            install from these wheels, no package index (clusters without
#                                          internet): s3://BUCKET/PREFIX/wheelhouse after upload.sh --wheelhouse
#   --name NAME              [fruits-featurize]
#
# Idle auto-termination (what counts as idle, 60 s minimum):
#   https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-auto-termination-policy.html
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"
# shellcheck source-path=SCRIPTDIR source=emr-cluster.sh
source "$HERE/emr-cluster.sh"

[ $# -ge 1 ] || usage
project_argument "$1"
shift

primary_type="m5.2xlarge"
core_type="m5.2xlarge"
core_count=4
data_gib=32
input_path="$(emr_param input_path)"
output_path="$(emr_param output_path)"
idle_timeout=900
prices="$HERE/prices.tsv"
key_name=""
subnet_id=""
weights=""
wheelhouse=""
name="fruits-featurize"
parse_options "--primary-type=primary_type --core-type=core_type --core-count=core_count --data-gib=data_gib
               --input=input_path --output=output_path --idle-timeout=idle_timeout --key-name=key_name
               --subnet-id=subnet_id --weights=weights --wheelhouse=wheelhouse --name=name" "$@"
wheelhouse="${wheelhouse%/}"
[[ "$idle_timeout" =~ ^[0-9]+$ ]] && [ "$idle_timeout" -ge 60 ] && [ "$idle_timeout" -le 604800 ] \
  || fail "--idle-timeout must be 60 to 604800 seconds, not '$idle_timeout'"
[[ "$core_count" =~ ^[1-9][0-9]*$ ]] || fail "--core-count must be a whole number of at least 1"
[[ "$data_gib" =~ ^[1-9][0-9]*$ ]] && [ "$data_gib" -ge 5 ] || fail "--data-gib must be a whole number of at least 5 (EMR's minimum)"

for parameter in input_path output_path; do
  case "${!parameter}" in
    *YOUR-BUCKET*|"") fail "$parameter is '${!parameter}': set it in params/emr.yaml or give --${parameter%_path} s3://..." ;;
  esac
done
check_region_allowed
require_aws
notebook_weights="$(emr_param weights)"
check_buckets_in_region "$project" "$input_path" "$output_path" "$notebook_weights" "$weights" "$wheelhouse"

bootstrap_script="$project/bootstrap/install-packages.sh"
aws s3 ls "$bootstrap_script" --region "$region" >/dev/null 2>&1 \
  || fail "$bootstrap_script not found: run bootstrap/upload.sh $project first"
if [ -n "$wheelhouse" ]; then
  aws s3 ls "$wheelhouse/worker/" --region "$region" >/dev/null 2>&1 \
    || fail "no wheelhouse at $wheelhouse: run make wheelhouse, then bootstrap/upload.sh $project --wheelhouse"
fi

# The roles, with these buckets and paths in the node role's policy, and the subnet, tagged.
subnet_id="$("$HERE/prepare-account.sh" "$project" --region "$region" --allow-region "$region" --name "$name" --interactive \
  --input "$input_path" --output "$output_path" --weights "$notebook_weights" ${weights:+--weights "$weights"} \
  ${subnet_id:+--subnet-id "$subnet_id"})" || fail "could not prepare the roles (see above)"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
primary_market=ON_DEMAND  # the primary holds every driver, Livy and JupyterHub: never spot here
core_market=ON_DEMAND
primary_data_gib="$data_gib"
core_data_gib="$data_gib"
applications=(Name=Hadoop Name=Spark Name=Livy Name=JupyterHub)
configuration_files=(configurations.json configurations-interactive.json)
cluster_request "$workdir"
cost_text="$(printf 'MASTER %s %s 1 %s\nCORE %s %s %s %s\n' "$primary_market" "$primary_type" "$data_gib" \
  "$core_market" "$core_type" "$core_count" "$data_gib" | cluster_usd_per_hour "$prices" 2>&1)" \
  && cost_text="about \$$cost_text/h all in (EC2, EMR fee, EBS, public IPv4: $prices)" \
  || cost_text="an unknown price per hour ($cost_text)"

log "creating $RELEASE_LABEL cluster '$name' in $region: 1 x $primary_type + $core_count x $core_type, idle timeout ${idle_timeout}s"
log "it costs $cost_text until it terminates"
cluster_id="$(aws emr create-cluster "${request[@]}" \
  --auto-termination-policy "IdleTimeout=$idle_timeout" \
  --query ClusterId --output text)" \
  || fail "aws emr create-cluster failed (see the error above)"

log "next: aws emr wait cluster-running --region $region --cluster-id $cluster_id, then bootstrap/submit-run.sh --region $region $cluster_id $project"
echo "$cluster_id"
log "OK: cluster $cluster_id starting in $region; logs in $project/logs/; terminates after ${idle_timeout}s idle (a Livy session counts as busy until Livy ends it, 1 h after its last statement)"
