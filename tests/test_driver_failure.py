"""A driver out of memory stops the run with an error naming driver_memory; it never hangs."""

import nbformat
import pytest

from support.helpers import NOTEBOOK, run_papermill

pytestmark = pytest.mark.slow

# More heap than driver_memory allows, asked of the driver's JVM on purpose, right after Spark starts.
EXHAUST_THE_HEAP = "spark._jvm.java.lang.reflect.Array.newInstance(spark._jvm.java.lang.Long.TYPE, 1_500_000_000)"


def notebook_exhausting_the_driver(path):
    """The notebook up to the cell starting Spark, without step 3's model (no Keras: it is not needed
    here), then EXHAUST_THE_HEAP, written to `path`."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    starting = next(i for i, cell in enumerate(notebook.cells) if "spark = start_local_spark(" in cell.source)
    model = [i for i, cell in enumerate(notebook.cells) if cell.source.startswith("## 3. Model")][0]
    output_folder = [i for i, cell in enumerate(notebook.cells) if cell.source.startswith("## 4. ")][0]
    notebook.cells = (notebook.cells[:model] + notebook.cells[output_folder:starting + 1]
                      + [nbformat.v4.new_code_cell(EXHAUST_THE_HEAP)])
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def out_of_memory_run(ci_inputs, tmp_path_factory):
    """(finished papermill process, output folder) of a run whose driver's JVM runs out of heap: with
    -XX:+ExitOnOutOfMemoryError it exits, where it would otherwise live on (and a scheduler thread's
    OutOfMemoryError would leave the run waiting for ever)."""
    base = tmp_path_factory.mktemp("driver-oom")
    (base / "output").mkdir()
    (base / "output" / "manifest.json").write_text("{}")  # an earlier run's
    process = run_papermill(base / "executed.ipynb", "output_path", base / "output", "driver_memory", "1g",
                            notebook=notebook_exhausting_the_driver(base / "oom.ipynb"))
    return process, base / "output"


def test_a_driver_out_of_memory_fails_the_run_naming_driver_memory(out_of_memory_run):
    process, _ = out_of_memory_run
    assert process.returncode != 0
    assert "the Spark driver stopped (JVM exit code 3: out of memory)" in process.stderr
    assert "raise the parameter driver_memory (now '1g'), for example -p driver_memory 8g" in process.stderr


def test_a_driver_out_of_memory_leaves_no_manifest_not_even_an_earlier_runs(out_of_memory_run):
    _, output = out_of_memory_run
    assert not (output / "manifest.json").exists()
