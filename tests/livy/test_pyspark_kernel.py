"""The notebook in sparkmagic's PySpark kernel (the one EMR JupyterHub opens), through the Livy
test server: it gives what the python3 run gives, its checked cells print what the notebook stores,
and errors fail the run."""

import base64
import subprocess
import sys
from collections import namedtuple

import nbformat
import numpy as np
import pandas as pd
import pytest

from support.helpers import CI_CLASSES, CI_PER_CLASS, NOTEBOOK, run_notebook, stdout_text
from livy.conftest import PYSPARK_KERNEL

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

KernelRun = namedtuple("KernelRun", "output requests")


@pytest.fixture(scope="session")
def pyspark_kernel_run(ci_inputs, livy_server, pyspark_kernel_env, tmp_path_factory):
    """The notebook with params/ci.yaml, run by papermill in the PySpark kernel."""
    output = tmp_path_factory.mktemp("pyspark-kernel-run")
    first_request = len(livy_server.requests_seen)
    run_notebook(output / "executed.ipynb", "output_path", output, env=pyspark_kernel_env, kernel=PYSPARK_KERNEL)
    return KernelRun(output, livy_server.requests_seen[first_request:])


def read_features_by_path(output):
    return pd.read_parquet(output / "features").set_index("path").sort_index()


def test_pyspark_kernel_run_has_the_same_rows_as_the_python3_run(pyspark_kernel_run, ci_run):
    livy_rows = read_features_by_path(pyspark_kernel_run.output)
    python3_rows = read_features_by_path(ci_run)
    assert len(livy_rows) == CI_CLASSES * CI_PER_CLASS
    assert list(livy_rows.index) == list(python3_rows.index)
    assert list(livy_rows["label"]) == list(python3_rows["label"])


def test_pyspark_kernel_run_has_the_features_of_the_python3_run(pyspark_kernel_run, ci_run):
    livy_features = np.stack(read_features_by_path(pyspark_kernel_run.output)["features"])
    python3_features = np.stack(read_features_by_path(ci_run)["features"])
    np.testing.assert_allclose(livy_features, python3_features, rtol=1e-4, atol=1e-5)


def test_pyspark_kernel_run_writes_the_csv_of_the_python3_run_up_to_component_signs(pyspark_kernel_run, ci_run):
    livy_csv = pd.read_csv(pyspark_kernel_run.output / "pca_features.csv")
    python3_csv = pd.read_csv(ci_run / "pca_features.csv")
    assert list(livy_csv.columns) == list(python3_csv.columns)
    assert livy_csv[["image", "label"]].equals(python3_csv[["image", "label"]])
    components = [column for column in livy_csv.columns if column.startswith("pc_")]
    livy_scores, python3_scores = livy_csv[components].to_numpy(), python3_csv[components].to_numpy()
    signs = np.sign((livy_scores * python3_scores).sum(axis=0))  # PCA fixes a component up to its sign
    np.testing.assert_allclose(livy_scores * signs, python3_scores, atol=1e-4 * np.abs(python3_scores).max())


def test_kernel_runs_the_cells_in_one_livy_session_and_deletes_it_at_shutdown(pyspark_kernel_run, livy_server):
    requests = pyspark_kernel_run.requests
    assert requests.count(("POST", "/sessions")) == 1
    deleted = [path for method, path in requests if method == "DELETE"]
    assert len(deleted) == 1
    session_id = int(deleted[0].rsplit("/", 1)[1])
    assert session_id in livy_server.deleted_session_ids and session_id not in livy_server.sessions
    statements = [path for method, path in requests if method == "POST" and path.endswith("/statements")]
    assert set(statements) == {f"/sessions/{session_id}/statements"}


def checked_cells(notebook_path):
    """The code cells whose outputs nbval checks (`# NBVAL_CHECK_OUTPUT`)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in cell.source]


def printed(cell):
    """What a cell printed, trailing whitespace stripped (Livy returns a statement's text stripped)."""
    return "".join(output.text for output in cell.outputs if output.get("name") == "stdout").rstrip()


def test_the_cells_nbval_checks_print_in_the_pyspark_kernel_what_the_notebook_stores(pyspark_kernel_run):
    """nbval runs in the python3 kernel (test_nbval.py); in this kernel its check, that each checked cell
    prints what the committed notebook stores, is made on the papermill run, rather than by a second
    whole run (70 s) under nbval."""
    stored = checked_cells(NOTEBOOK)
    executed = checked_cells(pyspark_kernel_run.output / "executed.ipynb")
    assert len(stored) >= 1 and [cell.source for cell in executed] == [cell.source for cell in stored]
    assert [printed(cell) for cell in executed] == [printed(cell) for cell in stored]
    assert all(output.output_type != "error" for cell in executed for output in cell.outputs)


@pytest.fixture(scope="module")
def plot_then_failure(livy_server, pyspark_kernel_env, tmp_path_factory):
    """A small notebook run by papermill in the PySpark kernel: a plot shown with `%matplot plt` (Livy's
    way to show one: draw with pyplot in the session), then a statement that fails, then one that
    prints. Gives (finished process, executed notebook)."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in [
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3), dpi=50)\nplt.plot([0, 1], [1, 0])\n%matplot plt",
        'raise ValueError("a failing statement, on purpose")',
        "print('ran after the failing statement')"]])
    folder = tmp_path_factory.mktemp("plot-then-failure")
    source, executed = folder / "plot.ipynb", folder / "plot-executed.ipynb"
    nbformat.write(notebook, source)
    process = subprocess.run([sys.executable, "-m", "papermill", str(source), str(executed), "-k", PYSPARK_KERNEL],
                             cwd=folder, env=pyspark_kernel_env, capture_output=True, text=True, timeout=600)
    return process, executed


def test_matplot_shows_the_current_figure_as_a_png_image(plot_then_failure):
    _, executed = plot_then_failure
    # papermill puts a markdown cell about the failure first: the plot is the first code cell
    plot_cell = next(cell for cell in nbformat.read(executed, as_version=4).cells if cell.cell_type == "code")
    images = [output.data["image/png"] for output in plot_cell.outputs if "image/png" in output.get("data", {})]
    assert len(images) == 1
    png = base64.b64decode(images[0])
    assert png.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # IHDR
    assert (width, height) == (200, 150)


def test_a_failing_statement_makes_papermill_fail_and_stops_the_run(plot_then_failure):
    process, executed = plot_then_failure
    assert process.returncode != 0
    assert "ValueError: a failing statement, on purpose" in process.stderr
    assert "ran after the failing statement" not in stdout_text(executed), "the cell after the failing one ran"


def test_report_plots_come_back_as_png_through_matplot(pyspark_kernel_run):
    notebook = nbformat.read(pyspark_kernel_run.output / "executed.ipynb", as_version=4)
    shown = [cell for cell in notebook.cells if "%matplot plt" in cell.source.splitlines()]
    assert len(shown) == 3, "the report shows three plots"
    for cell in shown:
        images = [output.data["image/png"] for output in cell.outputs if "image/png" in output.get("data", {})]
        assert len(images) == 1 and base64.b64decode(images[0]).startswith(PNG_SIGNATURE)
