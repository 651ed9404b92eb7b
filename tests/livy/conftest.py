"""Fixtures: the Livy test server, and sparkmagic's PySpark kernel pointed at it."""

import json
import sys
from pathlib import Path

import pytest
import sparkmagic
from jupyter_client.kernelspec import KernelSpecManager

from support.helpers import REPO, notebook_env
from livy.server import LivyServer

PYSPARK_KERNEL = "pysparkkernel"
# A cold session starts the JVM; on a busy 2-core machine that can take a minute.
SESSION_STARTUP_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="session")
def livy_server():
    """The test server on a free loopback port; its sessions run in the repository's root folder,
    so the relative paths of params/ci.yaml resolve as they do for the python3 kernel."""
    with LivyServer(session_cwd=REPO, session_env=notebook_env()) as server:
        yield server


def sparkmagic_config(livy_url):
    """sparkmagic's config.json for the tests: no auth, and a failed statement fails the run.

    Keys: https://github.com/jupyter-incubator/sparkmagic/blob/master/sparkmagic/example_config.json
    """
    return {
        "kernel_python_credentials": {"username": "", "base64_password": "", "url": livy_url, "auth": "None"},
        "livy_session_startup_timeout_seconds": SESSION_STARTUP_TIMEOUT_SECONDS,
        # By default sparkmagic prints a failed statement's error and carries on, so papermill and
        # nbval would see a successful cell: these make the cell fail and drop the session.
        "all_errors_are_fatal": True,
        "shutdown_session_on_spark_statement_errors": True,
        "cleanup_all_sessions_on_exit": True,
    }


@pytest.fixture(scope="session")
def pyspark_kernel_env(livy_server, tmp_path_factory):
    """Environment for papermill and nbval to run a notebook in sparkmagic's PySpark kernel
    against the test server. Installs the kernelspec into this virtual environment: jupyter_client
    then starts the kernel with this interpreter (it replaces kernel.json's "python" by it:
    format_kernel_cmd in https://github.com/jupyter/jupyter_client/blob/main/jupyter_client/manager.py)."""
    kernel_folder = Path(sparkmagic.__file__).parent / "kernels" / PYSPARK_KERNEL
    KernelSpecManager().install_kernel_spec(str(kernel_folder), PYSPARK_KERNEL, prefix=sys.prefix)
    config_folder = tmp_path_factory.mktemp("sparkmagic")  # also receives sparkmagic's own logs
    (config_folder / "config.json").write_text(json.dumps(sparkmagic_config(livy_server.url), indent=2))
    return {**notebook_env(), "SPARKMAGIC_CONF_DIR": str(config_folder)}
