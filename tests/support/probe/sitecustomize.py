"""The probe of tests/test_fast_tier.py: with this folder first on PYTHONPATH, every Python process
of a test run imports this module at start-up (Python's `site` imports `sitecustomize`). If
FAST_TIER_PROBE names a folder, each process writes a record there when it is a Jupyter kernel
(at start) and when it has imported Keras or TensorFlow (at exit), with the test that was running
(PYTEST_CURRENT_TEST, which pytest sets and child processes inherit)."""

import atexit
import json
import os
import sys

RECORDS = os.environ.get("FAST_TIER_PROBE")
KERNEL_MODULES = ("ipykernel_launcher", "ipykernel", "sparkmagic.kernels")
HEAVY_MODULES = ("keras", "tensorflow")


def record(kind, **details):
    """Write one record of this process into the RECORDS folder."""
    with open(os.path.join(RECORDS, f"{kind}-{os.getpid()}.json"), "w") as record_file:
        json.dump({"kind": kind, "argv": sys.orig_argv, "test": os.environ.get("PYTEST_CURRENT_TEST"), **details},
                  record_file)


def record_heavy_imports():
    """At exit: record the heavy modules this process imported, if any."""
    imported = sorted(name for name in HEAVY_MODULES if name in sys.modules)
    if imported:
        record("import", modules=imported)


if RECORDS:
    if any(module in argument for argument in sys.orig_argv for module in KERNEL_MODULES):
        record("kernel")
    atexit.register(record_heavy_imports)
