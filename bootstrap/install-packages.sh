#!/bin/bash
# EMR bootstrap action (every node, before the applications start) for Amazon EMR 7.10.0
# (Spark 3.5.5, Python 3.11 for Spark through bootstrap/configurations.json).
# Installs the pinned packages of requirements.txt, without pyspark (EMR ships Spark), for the
# Python that Spark's executors, drivers and Livy sessions run; then checks that each package has
# its pinned version and imports, and fails the node otherwise: a half-installed cluster fails at
# start-up instead of in the middle of a run. On the primary node it also registers that Python as
# the `python3` Jupyter kernel that headless runs use (bootstrap/run-notebook.sh).
# Optionally copies a MobileNetV2 weights file from S3 onto the node, for clusters without internet.
#
# Usage (bootstrap/create-cluster.sh passes these arguments):
#   install-packages.sh --requirements s3://BUCKET/PREFIX/requirements.txt [--weights s3://BUCKET/KEY.h5]
# The same script installs the package set into any Python, for example a fresh virtual
# environment (the tests do this):
#   PYTHON=/tmp/venv/bin/python bash bootstrap/install-packages.sh --requirements requirements.txt
#
# Bootstrap actions: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-bootstrap.html
set -euo pipefail

PYTHON="${PYTHON:-/usr/bin/python3.11}"
WEIGHTS_DIR="${WEIGHTS_DIR:-/opt/fruits-featurize/models}"  # same local path on every node
INSTANCE_INFO="${EMR_INSTANCE_INFO:-/mnt/var/lib/info/instance.json}"  # written by EMR on each node: isMaster

log() { echo "[install-packages $(date -u +%H:%M:%S)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

usage() {
  echo "usage: $0 --requirements s3://BUCKET/PREFIX/requirements.txt [--weights s3://BUCKET/KEY.h5]" >&2
  exit 2
}

requirements=""
weights=""
while [ $# -gt 0 ]; do
  case "$1" in
    --requirements) requirements="${2:?--requirements needs a value}"; shift 2 ;;
    --weights) weights="${2:?--weights needs a value}"; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$requirements" ] || usage

# Copy a file given as s3:// URI (AWS CLI, present on EMR nodes) or local path.
fetch() {
  case "$1" in
    s3://*) aws s3 cp --only-show-errors "$1" "$2" ;;
    *) cp "$1" "$2" ;;
  esac
}

is_primary_node() {
  [ -f "$INSTANCE_INFO" ] && grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$INSTANCE_INFO"
}

# EMR runs bootstrap actions as the hadoop user, with sudo; a root shell needs no sudo.
privileged() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run as whoever can write to `directory`: sudo for EMR's system Python (/usr), not for a virtual
# environment or a folder of ours.
as_owner() {
  local directory="$1"; shift
  if [ -w "$directory" ]; then "$@"; else privileged "$@"; fi
}

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# 1. Python 3.11: present on EMR 7.1 and later (Amazon Linux 2023); installed if an image lacks it.
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  log "$PYTHON not found: installing python3.11 with dnf"
  privileged dnf install -y -q python3.11 python3.11-pip || fail "could not install python3.11; use EMR 7.1 or later"
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  log "pip missing for $PYTHON: installing python3.11-pip with dnf"
  privileged dnf install -y -q python3.11-pip || fail "could not install pip for $PYTHON"
fi
log "Python: $("$PYTHON" --version 2>&1) at $PYTHON"

# 2. The package set: requirements.txt without pyspark, every line pinned with == (one source of truth).
fetch "$requirements" "$workdir/requirements.txt" || fail "cannot read $requirements: run bootstrap/upload.sh first"
grep -Ev '^[[:space:]]*(#|$)' "$workdir/requirements.txt" | sed 's/[[:space:]]*#.*//' \
  | grep -Ev '^pyspark==' > "$workdir/packages.txt" || true
unpinned="$(grep -v '==' "$workdir/packages.txt" || true)"
[ -z "$unpinned" ] || fail "unpinned requirements in $requirements: $unpinned (pin each with ==)"
[ -s "$workdir/packages.txt" ] || fail "no packages in $requirements"
log "installing $(wc -l < "$workdir/packages.txt") pinned packages: $(tr '\n' ' ' < "$workdir/packages.txt")"

site_packages="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
as_owner "$site_packages" "$PYTHON" -m pip install --quiet --disable-pip-version-check \
  -r "$workdir/packages.txt" || fail "pip could not install the pinned packages (see the pip error above)"

# 3. Every package at its pinned version and importable, or the node fails.
"$PYTHON" - "$workdir/packages.txt" <<'PY' || fail "installed packages do not match requirements.txt (see above)"
import importlib
import importlib.metadata
import sys

IMPORT_NAMES = {"pillow": "PIL", "pyyaml": "yaml"}  # distributions whose module has another name
problems = []
pins = [line.strip().split("==") for line in open(sys.argv[1]) if line.strip()]
for name, pinned in pins:
    distribution = name.split("[")[0].strip().lower()
    try:
        installed = importlib.metadata.version(distribution)
        if installed != pinned:
            problems.append(f"{distribution}: {installed} installed, {pinned} pinned")
        importlib.import_module(IMPORT_NAMES.get(distribution, distribution.replace("-", "_")))
    except Exception as error:  # any failure to find or import a package fails the node
        problems.append(f"{distribution}: {type(error).__name__}: {error}")
for problem in problems:
    print(f"[install-packages] {problem}", file=sys.stderr)
print(f"[install-packages] {len(pins) - len(problems)} of {len(pins)} packages at their pin and imported",
      file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# 4. Primary node only: the python3 kernel that papermill uses for headless runs.
primary="no"
if is_primary_node; then
  primary="yes"
  # --sys-prefix: /usr/share/jupyter for EMR's /usr/bin/python3.11, on the Jupyter path of that Python.
  python_prefix="$("$PYTHON" -c 'import sys; print(sys.prefix)')"
  as_owner "$python_prefix" "$PYTHON" -m ipykernel install --sys-prefix --name python3 \
    --display-name "Python 3.11 (fruits-featurize)" \
    || fail "could not register the python3 Jupyter kernel"
  log "registered $PYTHON as the python3 Jupyter kernel"
fi

# 5. Optional weights file, for clusters without internet: -p weights $WEIGHTS_DIR/<file name>.
weights_note="none"
if [ -n "$weights" ]; then
  mkdir -p "$WEIGHTS_DIR" 2>/dev/null || privileged mkdir -p "$WEIGHTS_DIR"
  fetch "$weights" "$workdir/$(basename "$weights")" || fail "cannot copy $weights"
  as_owner "$WEIGHTS_DIR" install -m 0644 "$workdir/$(basename "$weights")" "$WEIGHTS_DIR/" \
    || fail "cannot write to $WEIGHTS_DIR"
  weights_note="$WEIGHTS_DIR/$(basename "$weights")"
  log "weights file: $weights_note"
fi

log "OK: $(wc -l < "$workdir/packages.txt") pinned packages installed and imported for $PYTHON; primary: $primary; weights: $weights_note"
