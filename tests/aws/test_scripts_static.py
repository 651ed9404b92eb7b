"""What is checked in bootstrap/ without running it: shellcheck (the one of the dev lock), strict mode,
and the Configurations JSON the clusters receive."""

import json
import re
import subprocess
import sys
from pathlib import Path

from support.emr_scripts import BOOTSTRAP
from support.helpers import REPO

# Configuration classifications of EMR 7.x used here (Release Guide, "Configure applications":
# https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-configure-apps.html).
EMR_CLASSIFICATIONS = {"spark", "spark-defaults", "spark-env", "export", "livy-conf", "jupyter-s3-conf",
                       "jupyter-sparkmagic-conf"}


CONFIGURATION_FILES = ["configurations.json", "configurations-interactive.json"]  # every cluster; interactive ones


def configurations():
    """The Configurations of an interactive cluster: both files (a transient cluster gets the first)."""
    return [item for name in CONFIGURATION_FILES for item in json.loads((BOOTSTRAP / name).read_text())]


def classification(items, name):
    matches = [item for item in items if item["Classification"] == name]
    assert len(matches) == 1, f"{name}: {len(matches)} entries"
    return matches[0]


def test_every_script_is_shellcheck_clean():
    scripts = sorted(BOOTSTRAP.glob("*.sh"))
    process = subprocess.run([str(Path(sys.executable).parent / "shellcheck"), "--external-sources",
                              *map(str, scripts)], capture_output=True, text=True)
    assert process.returncode == 0, process.stdout


def test_every_script_runs_in_strict_mode():
    for script in BOOTSTRAP.glob("*.sh"):
        lines = script.read_text().splitlines()
        assert lines[0] == "#!/bin/bash" and "set -euo pipefail" in lines, script.name


def test_configurations_json_is_a_list_of_emr_classifications_with_string_properties():
    def check(items):
        assert isinstance(items, list) and items
        for item in items:
            assert set(item) <= {"Classification", "Properties", "Configurations"}, item
            assert item["Classification"] in EMR_CLASSIFICATIONS, item["Classification"]
            assert all(isinstance(key, str) and isinstance(value, str)
                       for key, value in item.get("Properties", {}).items()), item
            if "Configurations" in item:
                check(item["Configurations"])

    for name in CONFIGURATION_FILES:
        check(json.loads((BOOTSTRAP / name).read_text()))


def test_executors_drivers_and_livy_sessions_run_python_3_11():
    spark_defaults = classification(configurations(), "spark-defaults")["Properties"]
    spark_env = classification(classification(configurations(), "spark-env")["Configurations"], "export")
    assert spark_defaults["spark.pyspark.python"] == spark_defaults["spark.pyspark.driver.python"] == "/usr/bin/python3.11"
    assert spark_env["Properties"]["PYSPARK_PYTHON"] == "/usr/bin/python3.11"


def test_arrow_batches_and_executor_sizing_for_the_featurizer():
    spark_defaults = classification(configurations(), "spark-defaults")["Properties"]
    assert spark_defaults["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert int(spark_defaults["spark.sql.execution.arrow.maxRecordsPerBatch"]) > 0
    # Two executors fill one recommended core node (m5.2xlarge: 8 vCPUs, 24 GiB for YARN).
    memory = sum(int(spark_defaults[key].rstrip("g")) for key in
                 ["spark.executor.memory", "spark.executor.memoryOverhead"])
    assert 2 * int(spark_defaults["spark.executor.cores"]) == 8 and 2 * memory <= 24


def test_livy_ends_a_forgotten_session_within_an_hour_and_runs_its_driver_on_the_primary():
    livy = classification(configurations(), "livy-conf")["Properties"]
    # An open session is a YARN application, so the cluster is never idle while it lives.
    timeout = livy["livy.server.session.timeout"]
    assert re.fullmatch(r"\d+[hm]", timeout) and int(timeout[:-1]) * (60 if timeout[-1] == "h" else 1) <= 60, timeout
    # Client mode: the session's driver runs beside Livy on the primary, not in a core node's container.
    assert livy["livy.spark.deploy-mode"] == "client"


def test_livy_does_not_end_a_session_while_a_cell_runs():
    # Livy's timeout counts from the session's last activity, and a running statement is not activity
    # unless skip-busy (default false: LIVY-547): a cell longer than the timeout would be killed mid-run.
    livy = classification(configurations(), "livy-conf")["Properties"]
    assert livy["livy.server.session.timeout-check.skip-busy"] == "true"


def test_jupyterhub_keeps_notebooks_in_s3():
    s3 = classification(configurations(), "jupyter-s3-conf")["Properties"]
    assert s3 == {"s3.persistence.enabled": "true", "s3.persistence.bucket": "YOUR-BUCKET"}


def test_notebook_names_no_s3_endpoint():
    # Endpoints come from the environment (AWS_ENDPOINT_URL*, Spark's fs.s3a.endpoint), as for any user.
    source = (REPO / "notebooks" / "featurize.ipynb").read_text().lower()
    assert "endpoint" not in source and "127.0.0.1" not in source and "localhost" not in source
