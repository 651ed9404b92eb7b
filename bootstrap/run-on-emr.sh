#!/bin/bash
# One command from zero to results, with nothing left running: uploads the project, creates a
# transient EMR 7.10.0 cluster whose only step is the headless run (bootstrap/run-notebook.sh),
# sized for the input by bootstrap/prices.tsv, with --auto-terminate (the cluster ends when the step
# ends) and ActionOnFailure TERMINATE_CLUSTER (a failed step ends it at once). The cluster is lean:
# Hadoop and Spark only (no JupyterHub, no Livy: a headless run uses neither). Waits for the end and
# prints the step's result, where the executed notebook and the manifest are, the cluster's billed
# time (its Status.Timeline, request to end), its cost all in, and the measured minutes next to the
# estimated ones, which it appends to the measured file for the next run's sizing.
#
# Usage:
#   bootstrap/run-on-emr.sh s3://BUCKET/PREFIX [options] [-p NAME VALUE ...]
# Options (defaults in brackets):
#   --region REGION      [eu-west-1]  where the cluster runs; every bucket the run touches must be there
#   --allow-region REGION           also allow REGION, outside the EU (the default allows only EU regions)
#   --images N           [counted]  number of images; by default the objects under input_path (AWS CLI)
#   --spot                          spot core nodes (Spark re-runs a lost node's tasks); the primary is on
#                                   spot only when it is the whole cluster (its loss ends the run, see docs/emr-cost.md)
#   --max-minutes M      [60]       longest acceptable billed time: the cheapest cluster within it is chosen
#   --prices FILE        [bootstrap/prices.tsv]  prices and throughput figures of the sizing
#   --measured FILE      [bootstrap/measured.tsv]  the figures earlier runs measured: they replace
#                                   prices.tsv's assumed ones; each completed run appends its own
#   --plan                          print the chosen cluster and its estimated cost; create nothing
#   --wheelhouse                    nodes install from the wheels of `make wheelhouse`, uploaded to
#                                   PREFIX/wheelhouse, with no package index (clusters without internet)
#   --key-name NAME, --subnet-id ID, --weights s3://...h5, --name NAME   as for create-cluster.sh
#   -p NAME VALUE                   a notebook parameter for papermill (over params/emr.yaml), repeatable
# Environment: POLL_SECONDS [60] between two looks at the cluster's state.
#
# Transient clusters, --auto-terminate: https://docs.aws.amazon.com/cli/latest/reference/emr/create-cluster.html
# ActionOnFailure: https://docs.aws.amazon.com/emr/latest/APIReference/API_StepConfig.html
# Billing per second, one-minute minimum, from request to termination: https://aws.amazon.com/emr/pricing/
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"
# shellcheck source-path=SCRIPTDIR source=emr-cluster.sh
source "$HERE/emr-cluster.sh"
POLL_SECONDS="${POLL_SECONDS:-60}"

[ $# -ge 1 ] || usage
project_argument "$1"
shift

images=""
spot="no"
max_minutes=60
prices="$HERE/prices.tsv"
measured="$HERE/measured.tsv"
plan_only="no"
key_name=""
subnet_id=""
weights=""
wheelhouse=""
name="fruits-featurize-run"
papermill_args=()
input_path=""
output_path=""
notebook_weights=""
# -p NAME VALUE: a notebook parameter for papermill; the run's paths are among them.
other_option() {
  [ "$1" = -p ] || return 1
  [ $# -ge 3 ] || fail "-p needs a name and a value: -p NAME VALUE"
  papermill_args+=(-p "$2" "$3")
  case "$2" in
    input_path) input_path="$3" ;;
    output_path) output_path="$3" ;;
    weights) notebook_weights="$3" ;;
  esac
  taken=3
}
parse_options "--images=images --max-minutes=max_minutes --prices=prices --measured=measured --key-name=key_name
               --subnet-id=subnet_id --weights=weights --name=name
               --spot=spot:yes --plan=plan_only:yes --wheelhouse=wheelhouse:yes" "$@"
[ "$wheelhouse" != yes ] || wheelhouse="$project/wheelhouse"
[ -z "$images" ] || [[ "$images" =~ ^[1-9][0-9]*$ ]] || fail "--images must be a whole number of at least 1, not '$images'"
[[ "$max_minutes" =~ ^[1-9][0-9]*$ ]] || fail "--max-minutes must be a whole number of minutes, not '$max_minutes'"
[ -f "$prices" ] || fail "prices file $prices not found (--prices)"
# The sizing reads prices.tsv, then the figures earlier runs measured, which replace its own.
price_files=("$prices")
if [ -f "$measured" ]; then
  price_files+=("$measured")
  log "figures measured by earlier runs ($measured): $(awk '$1 == "setting" { print $2 }' "$measured" | sort -u | tr '\n' ' ')"
fi

# A parameter not given with -p comes from params/emr.yaml, as in the notebook's run.
input_path="${input_path:-$(emr_param input_path)}"
output_path="${output_path:-$(emr_param output_path)}"
notebook_weights="${notebook_weights:-$(emr_param weights)}"
for parameter in input_path output_path; do
  case "${!parameter}" in
    *YOUR-BUCKET*|"") fail "$parameter is '${!parameter}': set it in params/emr.yaml or pass -p $parameter s3://..." ;;
  esac
done

check_region_allowed
[ "$plan_only" = "yes" ] && [ -n "$images" ] || require_aws
if [ -z "$images" ]; then
  log "counting the objects under $input_path/ (give --images N to skip this)"
  images="$(aws s3 ls --recursive --summarize --region "$region" "${input_path%/}/" | awk '/Total Objects:/ {print $3}')" \
    || fail "could not list $input_path/ (see the error above): check input_path and your credentials"
  [ "${images:-0}" -gt 0 ] || fail "no objects under input_path $input_path/"
fi

# The cheapest cluster whose estimated billed time is at most max_minutes (the fastest one if none
# is): a single node of each instance type with enough memory, or the primary_type primary with 1 to
# max_core_nodes core nodes of each type. Billed minutes = startup + the notebook's fixed work +
# images / (executor vCPUs x images_per_second_per_vcpu) + teardown, for every node of the cluster,
# at the price of bootstrap/emr-cluster.sh's model (EC2, EMR fee, EBS, IPv4). The primary of a
# cluster with core nodes is on demand (its loss ends the run); with --spot every other node is spot.
# The driver's heap grows with the images (Spark's file index, docs/scale.md): a single node needs
# the heap above its minimum on top of single_node_min_memory_gib, and the primary of a cluster with
# core nodes is the smallest type with room for it (driver_heap_*, primary_*).
# Prints: primary_type primary_market primary_data_gib core_type core_count core_market core_data_gib
#         worker_vcpus minutes usd_per_hour within, then the estimate's parts in minutes: startup
#         notebook_fixed featurize teardown, then the driver's heap in GiB
size_cluster() {
  awk -v images="$images" -v max_minutes="$max_minutes" -v spot="$spot" "$PRICE_MODEL_AWK"'
    function consider(primary, primary_market, primary_gib, core, count, core_market, core_gib, worker_vcpus,
                      per_hour, minutes, cost, within) {
      minutes = fixed_minutes + images / (worker_vcpus * setting["images_per_second_per_vcpu"]) / 60
      cost = per_hour * minutes / 60
      within = minutes <= max_minutes
      if (best == "" || (within && (!best_within || cost < best_cost)) || (!best_within && !within && minutes < best_minutes)) {
        best = sprintf("%s %s %d %s %d %s %d %d %.1f %.4f %s", primary, primary_market, primary_gib, core, count,
                       core_market, core_gib, worker_vcpus, minutes, per_hour, within ? "yes" : "no")
        best_cost = cost; best_minutes = minutes; best_within = within
      }
    }
    function driver_heap_gib(images,    gib) {
      gib = setting["driver_heap_fixed_gib"] + images * setting["driver_heap_kib_per_image"] / 1048576
      gib = gib == int(gib) ? gib : int(gib) + 1
      return gib > setting["driver_heap_min_gib"] ? gib : setting["driver_heap_min_gib"]
    }
    function primary_for(heap,    needed, i, type, chosen) {
      needed = heap + setting["primary_reserved_gib"]
      if (memory[setting["primary_type"]] >= needed) return setting["primary_type"]
      for (i = 1; i <= type_count; i++) {
        type = types[i]
        if (memory[type] >= needed && (chosen == "" || memory[type] < memory[chosen])) chosen = type
      }
      return chosen
    }
    END {
      split("images_per_second_per_vcpu startup_minutes notebook_fixed_minutes teardown_minutes " \
            "single_node_min_memory_gib primary_type max_core_nodes ebs_gp3_usd_per_gib_month " \
            "public_ipv4_usd_per_hour root_volume_gib data_volume_fixed_gib data_volume_kib_per_image " \
            "data_volume_max_use driver_heap_min_gib driver_heap_fixed_gib driver_heap_kib_per_image " \
            "primary_reserved_gib", required, " ")
      for (i in required) if (!(required[i] in setting)) {
        printf "%s: no `setting %s VALUE` line\n", FILENAME, required[i] > "/dev/stderr"; exit 1 }
      if (!(setting["primary_type"] in known)) {
        printf "%s: primary_type %s has no `instance` line\n", FILENAME, setting["primary_type"] > "/dev/stderr"; exit 1 }
      heap = driver_heap_gib(images)
      primary = primary_for(heap)
      if (primary == "") {
        printf "no instance type in the prices has %d GiB for a driver heap of %d GiB: split the input (docs/scale.md)\n",
               heap + setting["primary_reserved_gib"], heap > "/dev/stderr"; exit 1 }
      fixed_minutes = setting["startup_minutes"] + setting["notebook_fixed_minutes"] + setting["teardown_minutes"]
      market = spot == "yes" ? "SPOT" : "ON_DEMAND"
      for (i = 1; i <= type_count; i++) {
        type = types[i]
        if (memory[type] >= setting["single_node_min_memory_gib"] + heap - setting["driver_heap_min_gib"])
          consider(type, market, data_volume_gib(images), "-", 0, "-", 0, vcpus[type],
                   node_usd_per_hour(type, market, data_volume_gib(images)))
      }
      primary_gib = data_volume_gib(0)  # the driver only: no executor writes there
      for (i = 1; i <= type_count; i++)
        for (count = 1; count <= setting["max_core_nodes"]; count++) {
          type = types[i]; core_gib = data_volume_gib(int((images + count - 1) / count))
          consider(primary, "ON_DEMAND", primary_gib, type, count, market, core_gib, count * vcpus[type],
                   node_usd_per_hour(primary, "ON_DEMAND", primary_gib) + count * node_usd_per_hour(type, market, core_gib))
        }
      printf "%s %.1f %.1f %.1f %.1f %d\n", best, setting["startup_minutes"], setting["notebook_fixed_minutes"],
             best_minutes - fixed_minutes, setting["teardown_minutes"], heap
    }' "${price_files[@]}"
}
plan="$(size_cluster)" || fail "cannot size the cluster from $prices (see above)"
read -r primary_type primary_market primary_data_gib core_type core_count core_market core_data_gib worker_vcpus \
  estimated_minutes usd_per_hour within estimated_startup estimated_fixed estimated_featurize estimated_teardown \
  driver_gib <<< "$plan"
if [ "$core_count" -eq 0 ]; then
  cluster_text="1 x $primary_type ($primary_market), a single node: YARN runs the executors on it"
else
  cluster_text="1 x $primary_type ($primary_market) + $core_count x $core_type ($core_market)"
fi
estimated_cost="$(awk -v h="$usd_per_hour" -v m="$estimated_minutes" 'BEGIN { printf "%.3f", h * m / 60 }')"
volumes="gp3 volumes: $(prices_setting "$prices" root_volume_gib) GiB root + $primary_data_gib GiB data per node"
[ "$core_count" -eq 0 ] || volumes="$volumes on the primary, $core_data_gib GiB data on each core node"
log "$images images -> $cluster_text; $worker_vcpus executor vCPUs; $volumes"
log "driver heap ${driver_gib} GiB (the notebook's driver_memory ${driver_gib}g: Spark's listing of $images files)"
log "estimated ${estimated_minutes} billed minutes x \$$usd_per_hour/h all in (EC2, EMR fee, EBS, public IPv4) = \$$estimated_cost (prices: $prices)"
[ "$within" = "yes" ] || log "no cluster in $prices finishes within --max-minutes $max_minutes: this is the fastest"
if [ "$plan_only" = "yes" ]; then
  echo "$images images: $cluster_text, about $estimated_minutes billed minutes, about \$$estimated_cost"
  log "OK: plan only, nothing created"
  exit 0
fi

# Before anything is created: every bucket the run touches is in the cluster's region.
check_buckets_in_region "$project" "$input_path" "$output_path" "$notebook_weights" "$weights"
# The roles, with this run's buckets and paths in the node role's policy, the subnet, tagged, and
# the security configuration (encryption at rest).
subnet_id="$("$HERE/prepare-account.sh" "$project" --region "$region" --allow-region "$region" --name "$name" --input "$input_path" \
  --output "$output_path" --weights "$notebook_weights" ${weights:+--weights "$weights"} \
  ${subnet_id:+--subnet-id "$subnet_id"})" || fail "could not prepare the roles (see above)"
"$HERE/upload.sh" "$project" --region "$region" --allow-region "$region" ${wheelhouse:+--wheelhouse} || fail "upload failed (see above)"

run_id="$(date -u +%Y%m%dT%H%M%SZ)"
executed="$project/runs/$run_id/featurize.ipynb"
# Three partitions per executor core; a hung cell ends the step (papermill's per-cell timeout:
# three times the whole run's estimate), and with it the cluster.
cell_timeout="$(awk -v m="$estimated_minutes" 'BEGIN { printf "%d", m * 3 * 60 }')"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
notebook_step_json "featurize $run_id" TERMINATE_CLUSTER "$project" "$executed" \
  -p num_partitions "$((3 * worker_vcpus))" -p driver_memory "${driver_gib}g" ${papermill_args[@]+"${papermill_args[@]}"} \
  --execution-timeout "$cell_timeout" > "$workdir/steps.json"
# Lean: Hadoop and Spark only. JupyterHub and Livy would take minutes of start-up and several GiB
# of the node's memory for a run that uses neither (docs/emr-cost.md, "Where each driver runs").
applications=(Name=Hadoop Name=Spark)
configuration_files=(configurations.json)
cluster_request "$workdir"

log "creating transient cluster '$name' in $region: $cluster_text; its only step runs the notebook"
cluster_id="$(aws emr create-cluster "${request[@]}" \
  --steps "file://$workdir/steps.json" --auto-terminate \
  --query ClusterId --output text)" \
  || fail "aws emr create-cluster failed (see the error above)"
log "cluster $cluster_id created; it terminates itself when the step ends (Ctrl-C here stops only the waiting)"

state=""
while :; do
  new_state="$(aws emr describe-cluster --region "$region" --cluster-id "$cluster_id" \
    --query Cluster.Status.State --output text)" \
    || fail "cannot read the state of $cluster_id (it still terminates when its step ends): see 'aws emr describe-cluster --cluster-id $cluster_id'"
  [ "$new_state" = "$state" ] || log "cluster $cluster_id: $new_state"
  state="$new_state"
  case "$state" in TERMINATED|TERMINATED_WITH_ERRORS) break ;; esac
  sleep "$POLL_SECONDS"
done

# Seconds since 1970 of a time as the AWS CLI prints it: AWS CLI 1 prints what the EMR API sends,
# seconds since 1970 (1796406075.877); AWS CLI 2 ISO 8601 (2026-11-28T10:00:00.123+00:00), read with
# GNU date, else BSD date (macOS) without the fraction and with the offset as +0000.
epoch_seconds() {
  if [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "${1%%.*}"
    return
  fi
  date -u -d "$1" +%s 2>/dev/null \
    || date -j -u -f '%Y-%m-%dT%H:%M:%S%z' "${1:0:19}$(echo "${1: -6}" | tr -d :)" +%s
}

# json_numbers KEY: the "name": number pairs of the object KEY of the JSON document on stdin (a flat
# object of numbers, such as the manifest's stage_seconds), one "name<TAB>number" per line; nothing
# if the document has no KEY. Written for the notebook's manifest (names hold no quote, comma or colon).
json_numbers() {
  tr '\n' ' ' | awk -v key="\"$1\"" '{
    start = index($0, key); if (!start) exit
    body = substr($0, start + length(key)); body = substr(body, index(body, "{") + 1)
    body = substr(body, 1, index(body, "}") - 1)
    count = split(body, pairs, ",")
    for (i = 1; i <= count; i++) {
      split(pairs[i], name_value, ":"); name = name_value[1]; value = name_value[2]
      gsub(/^[ \t]*"|"[ \t]*$/, "", name); gsub(/[ \t]/, "", value)
      if (name != "") printf "%s\t%s\n", name, value
    }
  }'
}

# What the cluster really was and when, read back from EMR: its end state and timeline, its step's,
# and each instance group's market, type, count and data volume (the cost uses the market each
# group got). A timeline entry that never happened reads None.
description="$(aws emr describe-cluster --region "$region" --cluster-id "$cluster_id" --output text --query \
  'Cluster.[Status.[State,Timeline.CreationDateTime,Timeline.ReadyDateTime,Timeline.EndDateTime,StateChangeReason.Message],
            InstanceGroups[].[InstanceGroupType,Market,InstanceType,RequestedInstanceCount,sum(EbsBlockDevices[].VolumeSpecification.SizeInGB)]]')"
IFS=$'\t' read -r state created ready ended reason <<< "$(head -n 1 <<< "$description")"
groups="$(tail -n +2 <<< "$description")"
IFS=$'\t' read -r step_state step_started step_ended <<< "$(aws emr list-steps --region "$region" --cluster-id "$cluster_id" \
  --query 'Steps[0].Status.[State,Timeline.StartDateTime,Timeline.EndDateTime]' --output text)"

billed_seconds=$(( $(epoch_seconds "$ended") - $(epoch_seconds "$created") ))
[ "$billed_seconds" -ge 60 ] || billed_seconds=60  # EMR's one-minute minimum
billed_usd_per_hour="$(cluster_usd_per_hour "$prices" <<< "$groups")" || fail "cannot price the cluster from $prices (see above)"
billed_cost="$(awk -v h="$billed_usd_per_hour" -v s="$billed_seconds" 'BEGIN { printf "%.3f", h * s / 3600 }')"
billed_text="$(awk '{ printf "%s%d x %s (%s)", (NR > 1 ? " + " : ""), $4, $3, $2 }' <<< "$groups")"

echo "step: $step_state"
echo "executed notebook: $executed"
echo "manifest: ${output_path%/}/manifest.json"
echo "billed: $((billed_seconds / 60)) min $((billed_seconds % 60)) s ($created to $ended) on $billed_text"
echo "estimated cost: \$$billed_cost (at \$$billed_usd_per_hour/h from $prices: EC2 at the market each group got, EMR fee, EBS, public IPv4; the bill has the exact figure)"

# Measured minutes next to the estimated ones: request to ready and ready to end from the cluster's
# timeline, the notebook's stages from its manifest (stage_seconds); a completed run appends them to
# the measured file, whose figures replace prices.tsv's assumed ones in the next run's sizing.
manifest="$(aws s3 cp --only-show-errors --region "$region" "${output_path%/}/manifest.json" - 2>/dev/null || true)"
stages="$(json_numbers stage_seconds <<< "$manifest")"
found="$(json_numbers counts <<< "$manifest" | awk -F '\t' '$1 == "found" { print $2 }')"
if [ "$ready" != None ] && [ "$step_started" != None ] && [ "$step_ended" != None ]; then
  measures="$(awk -F '\t' -v created="$(epoch_seconds "$created")" -v ready="$(epoch_seconds "$ready")" \
      -v step_started="$(epoch_seconds "$step_started")" -v step_ended="$(epoch_seconds "$step_ended")" \
      -v ended="$(epoch_seconds "$ended")" -v found="${found:-0}" -v vcpus="$worker_vcpus" '
    NF { seconds[$1] = $2; order[++count] = $1 }
    END {
      startup = (ready - created) / 60; notebook = (step_ended - step_started) / 60; teardown = (ended - step_ended) / 60
      featurize = ("featurize" in seconds) ? seconds["featurize"] / 60 : -1
      printf "startup %.1f\nteardown %.1f\nready_to_end %.1f\nbilled %.1f\n", startup, teardown, (ended - ready) / 60,
             (ended - created) / 60
      if (featurize > 0 && found > 0) {
        printf "featurize %.1f\nnotebook_fixed %.1f\nthroughput %.1f\n", featurize, notebook - featurize,
               found / (featurize * 60) / vcpus
      }
      for (i = 1; i <= count; i++) stage_text = stage_text sprintf("%s%s %.1f s", (i > 1 ? ", " : ""), order[i], seconds[order[i]])
      if (count) print "stages " stage_text
    }' <<< "$stages")"
  measure() { awk -v name="$1" '$1 == name { $1 = ""; sub(/^ /, ""); print }' <<< "$measures"; }
  printf '%-36s %9s %9s\n' "minutes" estimated measured
  printf '%-36s %9s %9s\n' "request to ready (cluster timeline)" "$estimated_startup" "$(measure startup)"
  printf '%-36s %9s %9s\n' "notebook, featurize (manifest)" "$estimated_featurize" "$(measure featurize)"
  printf '%-36s %9s %9s\n' "notebook, the rest of the step" "$estimated_fixed" "$(measure notebook_fixed)"
  printf '%-36s %9s %9s\n' "step end to cluster end" "$estimated_teardown" "$(measure teardown)"
  printf '%-36s %9s %9s\n' "ready to end (cluster timeline)" \
    "$(awk -v a="$estimated_featurize" -v b="$estimated_fixed" -v c="$estimated_teardown" 'BEGIN { printf "%.1f", a + b + c }')" \
    "$(measure ready_to_end)"
  printf '%-36s %9s %9s\n' "billed" "$estimated_minutes" "$(measure billed)"
  [ -z "$(measure stages)" ] || echo "the notebook's stages (manifest stage_seconds): $(measure stages)"
  if [ "$step_state" = COMPLETED ] && [ -n "$(measure throughput)" ]; then
    [ -f "$measured" ] || printf '%s\n' "# Figures measured by bootstrap/run-on-emr.sh, one block per completed run: they replace" \
      "# bootstrap/prices.tsv's assumed ones (the last value of a setting counts). Delete a block to forget it." > "$measured"
    {
      echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $cluster_id: $found images on $billed_text, $worker_vcpus executor vCPUs"
      echo "setting startup_minutes            $(measure startup)"
      echo "setting notebook_fixed_minutes     $(measure notebook_fixed)"
      echo "setting images_per_second_per_vcpu $(measure throughput)"
      echo "setting teardown_minutes           $(measure teardown)"
    } >> "$measured"
    log "measured minutes and throughput appended to $measured: the next --plan uses them"
  fi
fi

if [ "$step_state" != "COMPLETED" ]; then
  fail "step $step_state, cluster $state: $reason. Open $executed (the failing cell) and $project/logs/$cluster_id/steps/ (a few minutes after the end); a spot primary reclaimed? rerun without --spot"
fi
log "OK: $cluster_id ran the notebook and terminated ($state) after $((billed_seconds / 60)) min; about \$$billed_cost"
