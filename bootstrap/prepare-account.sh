#!/bin/bash
# Prepares the account for the project's clusters, with least privilege (idempotent: run it again,
# it changes only what differs; create-cluster.sh and run-on-emr.sh run it before every cluster):
# - the EMR service role fruits-featurize-emr-service: AWS's AmazonEMRServicePolicy_v2, and leave to
#   pass the node role below to EC2 (the v2 policy passes only EMR_EC2_DefaultRole);
# - the node role NAME-node and its instance profile of the same name (EMR requires one name for
#   both): the credentials every node of the cluster gets, allowed only what a run needs (the policy
#   below: read the input and the weights, read the project, write the executed notebooks, the logs
#   and the output; for an interactive cluster, JupyterHub's notebooks). Each run's paths replace the
#   previous ones: give concurrent clusters different names;
# - the tag for-use-with-amazon-emr-managed-policies=true on the subnet the cluster runs in, on its
#   VPC, and on EMR's own security groups there, without which the v2 policy launches nothing;
# - encryption at rest: the EMR security configuration fruits-featurize-at-rest (S3 objects written
#   through EMRFS encrypted by S3, SSE-S3; the local disks with LUKS and every EBS volume, the root
#   included, with EBS encryption) and its customer managed KMS key, alias/fruits-featurize-disks
#   ($1 a month while it exists: docs/emr-cost.md), which the two roles may use.
# Prints the subnet's id. --plan prints the policies and changes nothing.
#
# Usage:
#   bootstrap/prepare-account.sh s3://BUCKET/PREFIX --input s3://... --output s3://... [options]
#   --input s3://...       the images the run reads (the notebook's input_path)
#   --output s3://...      where the run writes (output_path)
#   --weights s3://...     [] a weights file the nodes read (the notebook's weights, the bootstrap's
#                          copy), repeatable
#   --interactive          also JupyterHub's notebooks, s3://BUCKET/jupyter/ (create-cluster.sh)
#   --name NAME            [fruits-featurize] the cluster's name: its node role is NAME-node
#   --subnet-id ID         [the default VPC's first default subnet] where the cluster runs
#   --region REGION        [eu-west-1]
#   --allow-region REGION  []           also allow REGION, outside the EU (the default allows only EU regions)
#   --plan                 print the policies and what would change; change nothing
#
# The node role, least privilege: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role-for-ec2.html
# The service role and its v2 policy's tags: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role.html
#   and https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-managed-iam-policies.html
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"
# shellcheck source-path=SCRIPTDIR source=emr-cluster.sh
source "$HERE/emr-cluster.sh"  # SERVICE_ROLE, EMR_TAG, SECURITY_CONFIGURATION, DISK_KEY_ALIAS

SERVICE_POLICY_ARN="arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"

[ $# -ge 1 ] || usage
project_argument "$1"
shift
input=""
output=""
weights=()
interactive="no"
name="fruits-featurize"
subnet_id=""
plan_only="no"
# --weights is repeatable, and only a file in S3 matters here ("imagenet" is read from the internet).
other_option() {
  [ "$1" = --weights ] && [ $# -ge 2 ] || return 1
  case "$2" in s3://?*) weights+=("$2") ;; esac
  taken=2
}
parse_options "--input=input --output=output --name=name --subnet-id=subnet_id
               --interactive=interactive:yes --plan=plan_only:yes" "$@"
input="${input%/}"
output="${output%/}"
for path in input output; do
  case "${!path}" in s3://?*) ;; *) fail "--$path must be an s3://BUCKET[/PREFIX], not '${!path}'" ;; esac
done
[[ "$name" =~ ^[A-Za-z0-9+=,.@_-]{1,59}$ ]] || fail "--name must be 1 to 59 letters, digits or +=,.@_- (it names an IAM role), not '$name'"
node_role="$name-node"
check_region_allowed

# arn:aws:s3:::BUCKET/KEY of an s3:// URI, and the bucket of one.
s3_arn() { echo "arn:aws:s3:::${1#s3://}"; }
bucket_of() { local path="${1#s3://}"; echo "${path%%/*}"; }

# The JSON list of strings of the arguments.
json_list() {
  local item out="" separator=""
  for item in "$@"; do
    out="$out$separator\"$item\""
    separator=", "
  done
  printf '[%s]' "$out"
}

# One statement of a policy: SID EFFECT ACTIONS (space separated) RESOURCES...
statement() {
  local sid="$1" actions="$2"
  shift 2
  # shellcheck disable=SC2086  # the actions are one word each
  printf '    {"Sid": "%s", "Effect": "Allow", "Action": %s, "Resource": %s}' "$sid" "$(json_list $actions)" "$(json_list "$@")"
}

# The node role's policy: only what a run needs. Object actions: read, write (multipart uploads
# included: Spark writes large parquet parts in parts), delete (the notebook removes the previous
# run's outputs; the committers tidy their temporary files).
node_policy() {
  local write="s3:GetObject s3:PutObject s3:DeleteObject s3:AbortMultipartUpload s3:ListMultipartUploadParts"
  local buckets=() bucket
  while read -r bucket; do
    buckets+=("$bucket")
  done < <(for path in "$project" "$input" "$output" ${weights[@]+"${weights[@]}"}; do
    case "$path" in s3://*) bucket_of "$path" ;; esac
  done | sort -u)
  local statements=()
  # Spark, EMRFS and s3fs list the prefixes they read and write and ask a bucket's region: on these
  # buckets only. Listing shows key names, not contents.
  statements+=("$(statement ListTheRunsBuckets "s3:ListBucket s3:GetBucketLocation" \
    "${buckets[@]/#/arn:aws:s3:::}")")
  # The images: read only.
  statements+=("$(statement ReadTheInput "s3:GetObject" "$(s3_arn "$input")/*")")
  # The weights files in S3 (the driver reads the notebook's; the bootstrap copies its own): read only.
  local weights_arns=()
  for path in ${weights[@]+"${weights[@]}"}; do
    case "$path" in s3://*) weights_arns+=("$(s3_arn "$path")") ;; esac
  done
  [ ${#weights_arns[@]} -eq 0 ] || statements+=("$(statement ReadTheWeights "s3:GetObject" "${weights_arns[@]}")")
  # The project: the bootstrap action, the locks, the wheels, the notebook, its parameter files and
  # the step's script, read only, so that no notebook on a node can change what the next cluster runs.
  statements+=("$(statement ReadTheProject "s3:GetObject" "$(s3_arn "$project")/*")")
  # The executed notebooks, written by papermill on the primary.
  statements+=("$(statement WriteTheExecutedNotebooks "$write" "$(s3_arn "$project")/runs/*")")
  # EMR's log archive (--log-uri), written by each node's log pusher.
  statements+=("$(statement WriteTheLogs "s3:PutObject" "$(s3_arn "$project")/logs/*")")
  # The run's outputs, and EMRFS's marker of the output folder itself (KEY_$folder$, beside it).
  statements+=("$(statement ReadWriteTheOutput "$write" "$(s3_arn "$output")/*" "$(s3_arn "$output")_\$folder\$")")
  if [ "$interactive" = "yes" ]; then
    # JupyterHub keeps its users' notebooks in s3://BUCKET/jupyter/ (configurations-interactive.json).
    statements+=("$(statement JupyterHubNotebooks "$write" "arn:aws:s3:::$project_bucket/jupyter/*")")
  fi
  # The local disks' key: each node encrypts its volumes with LUKS under a data key of this KMS key.
  statements+=("$(statement UseTheLocalDiskKey "kms:Encrypt kms:Decrypt kms:ReEncrypt* kms:GenerateDataKey* kms:DescribeKey" "$1")")
  local IFS=$'\n'
  printf '{\n  "Version": "2012-10-17",\n  "Statement": [\n%s\n  ]\n}\n' "$(printf '%s,\n' "${statements[@]}" | sed '$ s/,$//')"
}

trust_policy() {
  printf '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "%s"}, "Action": "sts:AssumeRole"}]}\n' "$1"
}

# The service role's use of the local disks' key: EBS encryption of the volumes it creates (the v2
# policy has no KMS permission).
service_key_policy() {
  printf '{"Version": "2012-10-17", "Statement": [{"Sid": "EncryptTheVolumes", "Effect": "Allow", "Action": %s, "Resource": "%s"}]}\n' \
    "$(json_list kms:CreateGrant kms:ListGrants kms:RevokeGrant kms:Encrypt kms:Decrypt "kms:ReEncrypt*" "kms:GenerateDataKey*" kms:DescribeKey)" "$1"
}

# The security configuration: encryption at rest of S3 objects (SSE-S3) and of the local disks (LUKS
# and EBS encryption, this key); not in transit (docs/emr.md says what that would need).
security_configuration_json() {
  printf '{"EncryptionConfiguration": {"EnableInTransitEncryption": false, "EnableAtRestEncryption": true, "AtRestEncryptionConfiguration": {"S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"}, "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": "%s", "EnableEbsEncryption": true}}}}\n' "$1"
}

# The service role's own addition to the v2 policy: pass the node role to EC2, nothing else.
pass_role_policy() {
  printf '{"Version": "2012-10-17", "Statement": [{"Sid": "PassTheNodeRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::%s:role/%s", "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}}]}\n' "$1" "$node_role"
}

if [ "$plan_only" = "yes" ]; then
  planned_key="arn:aws:kms:$region:ACCOUNT_ID:key/KEY_ID"
  echo "# service role $SERVICE_ROLE: trust policy, then $SERVICE_POLICY_ARN and the inline policies pass-$node_role and use-the-disk-key"
  trust_policy elasticmapreduce.amazonaws.com
  pass_role_policy ACCOUNT_ID
  service_key_policy "$planned_key"
  echo "# node role and instance profile $node_role: trust policy, then the inline policy run-access"
  trust_policy ec2.amazonaws.com
  node_policy "$planned_key"
  echo "# security configuration $SECURITY_CONFIGURATION, with the KMS key $DISK_KEY_ALIAS"
  security_configuration_json "$planned_key"
  echo "# tag $EMR_TAG=true on ${subnet_id:-the first default subnet of the default VPC}, its VPC and EMR's security groups there"
  log "OK: plan only, nothing changed"
  exit 0
fi
require_aws

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# created COMMAND...: runs an AWS CLI command that creates something; true if it did, false if the
# thing already exists (EntityAlreadyExists, "already exists"): one request either way. Any other
# error fails the script.
created() {
  if aws "$@" >/dev/null 2>"$workdir/error"; then return 0; fi
  grep -Eq 'AlreadyExists|already exists' "$workdir/error" && return 1
  fail "aws $* failed: $(cat "$workdir/error")"
}

# The local disks' key (its ARN names the account) and the security configuration that uses it.
key_created="no"
if ! key_arn="$(aws kms describe-key --region "$region" --key-id "$DISK_KEY_ALIAS" --query KeyMetadata.Arn \
                  --output text 2>"$workdir/error")"; then
  grep -q NotFoundException "$workdir/error" || fail "aws kms describe-key failed: $(cat "$workdir/error")"
  key_arn="$(aws kms create-key --region "$region" --description "fruits-featurize clusters: local disks and EBS volumes" \
    --tags "TagKey=$EMR_TAG,TagValue=true" --query KeyMetadata.Arn --output text)"
  aws kms create-alias --region "$region" --alias-name "$DISK_KEY_ALIAS" --target-key-id "$key_arn"
  key_created="yes"
  log "created the KMS key $DISK_KEY_ALIAS ($key_arn): \$1 a month while it exists"
fi
account="$(cut -d: -f5 <<< "$key_arn")"
if ! aws emr describe-security-configuration --region "$region" --name "$SECURITY_CONFIGURATION" >/dev/null 2>"$workdir/error"; then
  grep -q "does not exist" "$workdir/error" || fail "aws emr describe-security-configuration failed: $(cat "$workdir/error")"
  security_configuration_json "$key_arn" > "$workdir/security-configuration.json"
  aws emr create-security-configuration --region "$region" --name "$SECURITY_CONFIGURATION" \
    --security-configuration "file://$workdir/security-configuration.json" >/dev/null
  log "created the security configuration $SECURITY_CONFIGURATION: at rest, SSE-S3 and the local disks with $DISK_KEY_ALIAS"
fi

# The node role and its instance profile, made once per cluster name; with them, the service role
# and its leave to pass that role and to use the key.
if ! profile_roles="$(aws iam get-instance-profile --region "$region" --instance-profile-name "$node_role" \
                        --query 'length(InstanceProfile.Roles)' --output text 2>"$workdir/error")"; then
  grep -q NoSuchEntity "$workdir/error" || fail "aws iam get-instance-profile failed: $(cat "$workdir/error")"
  trust_policy ec2.amazonaws.com > "$workdir/node-trust.json"
  created iam create-role --region "$region" --role-name "$node_role" --assume-role-policy-document "file://$workdir/node-trust.json" \
    --description "Nodes of the fruits-featurize cluster $name: what a run needs, nothing more" || true
  aws iam create-instance-profile --region "$region" --instance-profile-name "$node_role" >/dev/null
  profile_roles=0
  log "created the node role and instance profile $node_role (EC2 may take a minute to know a new profile: rerun if EMR says it is invalid)"
fi
[ "$profile_roles" -gt 0 ] \
  || aws iam add-role-to-instance-profile --region "$region" --instance-profile-name "$node_role" --role-name "$node_role"
if [ "$profile_roles" -eq 0 ] || [ "$key_created" = "yes" ]; then
  trust_policy elasticmapreduce.amazonaws.com > "$workdir/service-trust.json"
  if created iam create-role --region "$region" --role-name "$SERVICE_ROLE" \
       --assume-role-policy-document "file://$workdir/service-trust.json" --description "EMR service role of fruits-featurize clusters"; then
    aws iam attach-role-policy --region "$region" --role-name "$SERVICE_ROLE" --policy-arn "$SERVICE_POLICY_ARN"
    log "created the service role $SERVICE_ROLE with AmazonEMRServicePolicy_v2"
  fi
  pass_role_policy "$account" > "$workdir/pass-role.json"
  aws iam put-role-policy --region "$region" --role-name "$SERVICE_ROLE" --policy-name "pass-$node_role" \
    --policy-document "file://$workdir/pass-role.json"
  service_key_policy "$key_arn" > "$workdir/service-key.json"
  aws iam put-role-policy --region "$region" --role-name "$SERVICE_ROLE" --policy-name use-the-disk-key \
    --policy-document "file://$workdir/service-key.json"
fi
# This run's paths, every time.
node_policy "$key_arn" > "$workdir/node-policy.json"
aws iam put-role-policy --region "$region" --role-name "$node_role" --policy-name run-access --policy-document "file://$workdir/node-policy.json"
log "node role $node_role: $project (read; runs/ and logs/ written), $input (read), $output (read, write)${weights[*]:+, ${weights[*]} (read)}$([ "$interactive" = no ] || echo ", s3://$project_bucket/jupyter/ (read, write)")"

# The subnet, its VPC and EMR's own security groups there, tagged for the v2 policy (once: a subnet
# that has the tag is taken as done).
filters=("Name=default-for-az,Values=true")
[ -z "$subnet_id" ] || filters=("Name=subnet-id,Values=$subnet_id")
read -r subnet_id vpc_id tagged <<< "$(aws ec2 describe-subnets --region "$region" --filters "${filters[@]}" \
  --query "sort_by(Subnets, &AvailabilityZone)[0].[SubnetId,VpcId,length(Tags[?Key=='$EMR_TAG'] || \`[]\`)]" --output text)"
[ "$subnet_id" != None ] || fail "no ${subnet_id:+such }subnet in $region${subnet_id:+: $subnet_id} (no default VPC? give the subnet of a VPC with --subnet-id)"
if [ "$tagged" = 0 ]; then
  read -r -a security_groups <<< "$(aws ec2 describe-security-groups --region "$region" \
    --filters "Name=vpc-id,Values=$vpc_id" Name=group-name,Values=ElasticMapReduce-master,ElasticMapReduce-slave,ElasticMapReduce-ServiceAccess \
    --query 'SecurityGroups[].GroupId' --output text)"
  aws ec2 create-tags --region "$region" --resources "$subnet_id" "$vpc_id" ${security_groups[@]+"${security_groups[@]}"} \
    --tags "Key=$EMR_TAG,Value=true"
  log "tagged $EMR_TAG=true: $subnet_id, $vpc_id${security_groups[*]:+, ${security_groups[*]}}"
fi

echo "$subnet_id"
log "OK: roles $SERVICE_ROLE and $node_role, security configuration $SECURITY_CONFIGURATION ready in account $account; the cluster runs in $subnet_id"
