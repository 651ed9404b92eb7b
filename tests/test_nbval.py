"""The notebook cell by cell under nbval, and the committed notebook's hygiene."""

import ast

import nbformat
import pytest

from support.helpers import NOTEBOOK


@pytest.mark.slow
def test_notebook_passes_nbval_cell_by_cell_with_ci_parameters(ci_run):
    """ci_run is the nbval run (conftest.py): it passed, and the run it made is committed."""
    assert (ci_run / "manifest.json").is_file()


def code_cells():
    return [cell for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "code"]


def test_committed_notebook_keeps_only_the_outputs_nbval_checks():
    for cell in code_cells():
        checked = "# NBVAL_CHECK_OUTPUT" in cell.source
        assert bool(cell.outputs) == checked, f"cell {cell.get('id')}: outputs stored = {bool(cell.outputs)}"
        # nbval fails a cell that has outputs but no execution count ("Unrun reference cell has outputs").
        assert (cell.execution_count is not None) == checked, f"cell {cell.get('id')}: {cell.execution_count}"


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
