"""The notebook's own functions, imported without running it: for unit tests and the benchmark.

Executes, from every code cell of notebooks/featurize.ipynb in order, only the statements that
define something: imports, functions, classes and UPPER_CASE constants. Calls that do work (start
Spark, load a model, read files) are left out, so this takes about a second and needs no kernel.
The code run is the notebook's own, never a copy of it.

    from notebook_code import notebook_functions
    decode = notebook_functions().decode

notebook_parameters() gives the parameters cell's names and literal defaults, read without running it.
"""

import ast
import functools
import types
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "featurize.ipynb"
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


def is_definition(statement):
    """True for an import, a function, a class or an UPPER_CASE constant."""
    if isinstance(statement, DEFINITIONS):
        return True
    return (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id.isupper())


@functools.cache
def notebook_functions(notebook=NOTEBOOK):
    """A module holding the definitions of every code cell of `notebook`, executed in order."""
    module = types.ModuleType("featurize_notebook")
    module.__file__ = str(notebook)
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        definitions = [statement for statement in ast.parse(source).body if is_definition(statement)]
        exec(compile(ast.Module(definitions, type_ignores=[]), f"{notebook.name}:{cell.get('id')}", "exec"),
             module.__dict__)
    return module


def notebook_parameters(notebook=NOTEBOOK):
    """{name: default} of the notebook's parameters cell (tagged "parameters": literals only), in its order."""
    cell = next(cell for cell in nbformat.read(notebook, as_version=4).cells
                if "parameters" in cell.metadata.get("tags", []))
    return {statement.targets[0].id: ast.literal_eval(statement.value) for statement in ast.parse(cell.source).body}
