"""The fast tier stays fast: the notebook's definitions, which its tests execute, import neither Keras
nor TensorFlow (the driver imports them inside the functions that load and convert the model)."""

import subprocess
import sys

from support.helpers import REPO

HEAVY_MODULES = ("keras", "tensorflow")


def test_the_notebooks_definitions_import_neither_keras_nor_tensorflow():
    code = ("import sys; from notebook_code import notebook_functions; notebook_functions(); "
            f"print(sorted(set({HEAVY_MODULES!r}) & set(sys.modules)))")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tools", capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.strip() == "[]", f"imported by the notebook's definitions: {process.stdout.strip()}"
