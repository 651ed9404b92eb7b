"""The notebook cell by cell under nbval, and the committed notebook's hygiene."""

import ast
import subprocess
import sys

import nbformat

from conftest import CI_PARAMS, CI_PARAMS_FILE, NOTEBOOK, REPO, notebook_env


def test_notebook_passes_nbval_cell_by_cell_with_ci_parameters(ci_inputs, tmp_path):
    prepared = tmp_path / "featurize-ci.ipynb"
    # nbval runs the kernel in the notebook's folder, so the fixture paths are made absolute.
    subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(prepared), "--prepare-only",
                    "-k", "python3", "-f", str(CI_PARAMS_FILE),
                    "-p", "input_path", str(REPO / CI_PARAMS["input_path"]),
                    "-p", "weights", str(REPO / CI_PARAMS["weights"]),
                    "-p", "output_path", str(tmp_path / "output")], check=True, cwd=REPO)
    process = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                              "--nbval-kernel-name", "python3", str(prepared)],
                             cwd=tmp_path, env=notebook_env(), capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stdout[-5000:]
    assert " passed" in process.stdout and " failed" not in process.stdout


def code_cells():
    return [cell for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "code"]


def test_committed_notebook_keeps_only_the_outputs_nbval_checks():
    for cell in code_cells():
        checked = "# NBVAL_CHECK_OUTPUT" in cell.source
        assert bool(cell.outputs) == checked, f"cell {cell.get('id')}: outputs stored = {bool(cell.outputs)}"


def test_committed_notebook_opens_in_the_sparkmagic_pyspark_kernel():
    kernelspec = nbformat.read(NOTEBOOK, as_version=4).metadata.kernelspec
    assert kernelspec.name == "pysparkkernel"


def test_parameters_cell_is_tagged_and_holds_commented_literals_only():
    parameter_cells = [cell for cell in code_cells() if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameter_cells) == 1
    source = parameter_cells[0].source
    for statement in ast.parse(source).body:
        assert isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant), \
            ast.get_source_segment(source, statement)
    for line in source.splitlines():
        assert "  # " in line, f"parameter without a comment: {line}"
    names = {statement.targets[0].id for statement in ast.parse(source).body}
    assert {"input_path", "output_path", "image_glob", "num_partitions", "pca_k", "weights"} <= names
