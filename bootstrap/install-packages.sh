#!/bin/bash
# EMR bootstrap action (every node, before the applications start) for Amazon EMR 7.10.0
# (Spark 3.5.5, Python 3.11 for Spark through bootstrap/configurations.json).
# Installs a lock file (every package pinned with its hashes: docs/emr-install.md) for the Python
# that Spark's executors, drivers and Livy sessions run: on the primary node, where every driver runs,
# requirements.lock without pyspark (EMR ships Spark); on the other nodes, which only run Spark's
# workers, requirements-worker.lock. Then checks that each package has its locked version and that its
# modules import, and fails the node otherwise: a half-installed cluster fails at start-up instead of
# in the middle of a run. On the primary node it also registers that Python as the `python3` Jupyter
# kernel that headless runs use (bootstrap/run-notebook.sh).
# With --wheelhouse (uploaded by `bootstrap/upload.sh --wheelhouse`), pip installs from those wheels
# only (--no-index): nodes in a private subnet without internet need no package index.
# Optionally copies a MobileNetV2 weights file from S3 onto the node, for clusters without internet.
#
# Usage (bootstrap/create-cluster.sh passes these arguments):
#   install-packages.sh --requirements s3://BUCKET/PREFIX/requirements.lock
#       --worker-requirements s3://BUCKET/PREFIX/requirements-worker.lock
#       [--wheelhouse s3://BUCKET/PREFIX/wheelhouse] [--weights s3://BUCKET/KEY.h5]
# The same script installs a package set into any Python, for example a fresh virtual environment
# (the tests do this; without instance.json a machine counts as a worker node):
#   PYTHON=/tmp/venv/bin/python bash bootstrap/install-packages.sh --requirements requirements.lock \
#       --worker-requirements requirements-worker.lock [--wheelhouse build/wheelhouse]
#
# Bootstrap actions: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-bootstrap.html
# Primary or not: EMR writes /mnt/var/lib/info/instance.json on each node, "isMaster": true on the
# primary; AWS's examples of primary-only bootstrap actions test it (not testable here: no AWS).
set -euo pipefail

PYTHON="${PYTHON:-/usr/bin/python3.11}"
WEIGHTS_DIR="${WEIGHTS_DIR:-/opt/fruits-featurize/models}"  # same local path on every node
INSTANCE_INFO="${EMR_INSTANCE_INFO:-/mnt/var/lib/info/instance.json}"  # written by EMR on each node: isMaster

log() { echo "[install-packages $(date -u +%H:%M:%S)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

usage() {
  echo "usage: $0 --requirements s3://BUCKET/PREFIX/requirements.lock" \
    "--worker-requirements s3://BUCKET/PREFIX/requirements-worker.lock" \
    "[--wheelhouse s3://BUCKET/PREFIX/wheelhouse] [--weights s3://BUCKET/KEY.h5]" >&2
  exit 2
}

requirements=""
worker_requirements=""
wheelhouse=""
weights=""
while [ $# -gt 0 ]; do
  case "$1" in
    --requirements) requirements="${2:?--requirements needs a value}"; shift 2 ;;
    --worker-requirements) worker_requirements="${2:?--worker-requirements needs a value}"; shift 2 ;;
    --wheelhouse) wheelhouse="${2:?--wheelhouse needs a value}"; shift 2 ;;
    --weights) weights="${2:?--weights needs a value}"; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$requirements" ] && [ -n "$worker_requirements" ] || usage

# Copy a file given as s3:// URI (AWS CLI, present on EMR nodes) or local path.
fetch() {
  case "$1" in
    s3://*) aws s3 cp --only-show-errors "$1" "$2" ;;
    *) cp "$1" "$2" ;;
  esac
}

# Copy a folder given as s3:// URI or local path.
fetch_folder() {
  case "$1" in
    s3://*) aws s3 cp --only-show-errors --recursive "$1" "$2" ;;
    *) cp -R "$1" "$2" ;;
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

# 2. The package set of this node: the whole lock on the primary, the workers' lock elsewhere.
primary="no"
package_set="worker"
lock="$worker_requirements"
if is_primary_node; then
  primary="yes"
  package_set="primary"
  lock="$requirements"
fi
fetch "$lock" "$workdir/downloaded.lock" || fail "cannot read $lock: run bootstrap/upload.sh first"
# A lock holds one block per package: `name==version \`, then indented --hash and comment lines.
# pyspark's block is left out: EMR ships Spark (and its py4j, which the lock also pins).
awk '/^[^ #]/ { skip = /^pyspark==/ } !skip' "$workdir/downloaded.lock" > "$workdir/node.lock"
unpinned="$(grep -E '^[^ #]' "$workdir/node.lock" | grep -v '==' || true)"
[ -z "$unpinned" ] || fail "unpinned requirements in $lock: $unpinned (a lock pins each with ==)"
package_count="$(grep -cE '^[^ #]' "$workdir/node.lock" || true)"
[ "$package_count" -gt 0 ] || fail "no packages in $lock"

# --require-hashes: pip installs no file whose hash the lock does not list, and no package the lock
# does not pin (`pip install --help`; pip's documentation, "Secure installs"). --no-cache-dir: a node
# installs once, so pip's cache would only be a second copy of the wheels (840 MB on the primary) on
# the 15 GiB root volume.
pip_source=()
source_note="the package index"
if [ -n "$wheelhouse" ]; then
  fetch_folder "$wheelhouse/$package_set" "$workdir/wheelhouse" \
    || fail "cannot copy $wheelhouse/$package_set: run make wheelhouse and bootstrap/upload.sh --wheelhouse"
  # --no-index --find-links: wheels from that folder only (`pip install --help`).
  pip_source=(--no-index --find-links "$workdir/wheelhouse")
  source_note="$wheelhouse/$package_set, without an index"
fi
log "$package_set node: installing $package_count locked packages of $lock from $source_note"

site_packages="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
as_owner "$site_packages" "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-cache-dir --require-hashes \
  ${pip_source[@]+"${pip_source[@]}"} -r "$workdir/node.lock" \
  || fail "pip could not install $lock (see the pip error above)"

# 3. Every package at its locked version, and the modules of each package the lock was compiled from
# (its `# via -r FILE` lines) importable, or the node fails. Their imports load what they use; a
# dependency imported alone may fail where its user would not (TensorFlow's GCS plugin, for one).
"$PYTHON" - "$workdir/node.lock" <<'PY' || fail "installed packages do not match $lock (see above)"
import importlib
import importlib.metadata
import re
import sys


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


pins, required = {}, []
for line in open(sys.argv[1]):
    if line.strip() and line[0] not in "# ":
        name, pinned = re.match(r"([^=\s]+)==(\S+)", line).groups()
        pins[name] = pinned
    elif re.match(r"\s+#.*-r \S", line):
        required.append(name)
modules = {}  # distribution -> its top-level modules, from each installed distribution's files
for module, distributions in importlib.metadata.packages_distributions().items():
    for distribution in distributions:
        modules.setdefault(normalized(distribution), set()).add(module)
problems = []
for name, pinned in pins.items():
    try:
        installed = importlib.metadata.version(name)
        if installed != pinned:
            problems.append(f"{name}: {installed} installed, {pinned} locked")
        for module in sorted(modules.get(normalized(name), ())) if name in required else ():
            if module.isidentifier() and not module.startswith("_"):  # private helpers: not for import
                importlib.import_module(module)
    except Exception as error:  # any failure to find or import a package fails the node
        problems.append(f"{name}: {type(error).__name__}: {error}")
for problem in problems:
    print(f"[install-packages] {problem}", file=sys.stderr)
print(f"[install-packages] {len(pins) - len(problems)} of {len(pins)} packages at their locked version, "
      f"the modules of {len(required)} imported", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# 4. Primary node only: the python3 kernel that papermill uses for headless runs.
if [ "$primary" = "yes" ]; then
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

log "OK: $package_count locked packages installed and checked for $PYTHON; primary: $primary; weights: $weights_note"
