"""The report: variance figures, plots, the linear probe on distinct classes, progress and the run record."""

from datetime import datetime

import nbformat
import numpy as np
import pytest
from PIL import Image

from support.colour_tree import COLOURS, PER_COLOUR
from support.helpers import CI_CLASSES, CI_PARAMS, CI_PER_CLASS, explained_variance_by_numpy, read_output

pytestmark = pytest.mark.slow


def test_plots_are_saved_as_real_pngs(ci_run):
    for name in ("explained_variance.png", "pca_scatter.png", "probe_accuracy.png"):
        image = Image.open(ci_run / "report" / name)
        assert image.format == "PNG" and image.width >= 400 and image.height >= 300
        pixels = np.asarray(image.convert("RGB"))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{name} is nearly blank"


def test_plots_show_inline_in_the_python3_kernel(colours_run):
    notebook = nbformat.read(colours_run.executed, as_version=4)
    shown = [cell for cell in notebook.cells if "%matplot plt" in cell.source.splitlines()]
    assert len(shown) == 3
    assert all(any("image/png" in output.get("data", {}) for output in cell.outputs) for cell in shown)


def test_explained_variance_matches_numpy(ci_run):
    manifest, features = read_output(ci_run)
    expected = explained_variance_by_numpy(features)
    k = CI_PARAMS["pca_k"]
    np.testing.assert_allclose(manifest["pca"]["explained_variance"], expected[:k], rtol=1e-6)
    for share, count in manifest["pca"]["components_for_variance"].items():
        fraction = int(share.rstrip("%")) / 100
        assert count == np.argmax(np.cumsum(expected) >= fraction - 1e-12) + 1, share


def test_headless_run_logs_featurization_progress(colours_run):
    total = len(COLOURS) * PER_COLOUR + 1  # and the lonely image
    assert f"featurized {total} of {total} files found in" in colours_run.log
    assert "images/s)" in colours_run.log


def test_run_record_has_stage_times_within_the_run_and_the_throughput_of_featurization(ci_run):
    manifest = read_output(ci_run)[0]
    stages = manifest["stage_seconds"]
    assert {"spark session", "load", "featurize", "pca", "probe", "write", "export csv", "report"} <= set(stages)
    wall = (datetime.fromisoformat(manifest["finished_at"]) - datetime.fromisoformat(manifest["started_at"]))
    assert sum(stages.values()) <= wall.total_seconds() + 1  # the two times are rounded to the second
    throughput = manifest["throughput"]
    assert 0 < throughput["featurize_seconds"] <= stages["featurize"]
    images = CI_CLASSES * CI_PER_CLASS
    assert throughput["images_per_second"] == pytest.approx(images / throughput["featurize_seconds"], rel=0.01)
