"""The report: variance figures, plots, nearest-neighbour check, progress and the run record."""

import json

import nbformat
import numpy as np
import pytest
from PIL import Image

from conftest import CI_PARAMS, read_output, run_papermill

COLOURS = {"red": (200, 30, 30), "green": (40, 170, 60), "blue": (40, 70, 200), "yellow": (230, 210, 40)}
PER_COLOUR = 8


def write_colour_tree(root, shuffle_labels):
    """PER_COLOUR flat, slightly noisy images of each colour; folders by colour, or shuffled so that
    every folder holds as many images of each colour: then the labels say nothing of the images."""
    rng = np.random.default_rng(3)
    colours = [colour for colour in COLOURS for _ in range(PER_COLOUR)]
    balanced = [folder for folder in COLOURS for _ in range(PER_COLOUR // len(COLOURS))]
    folders = [folder for _ in COLOURS for folder in rng.permutation(balanced)] if shuffle_labels else colours
    for index, (colour, folder) in enumerate(zip(colours, folders)):
        pixels = np.array(COLOURS[colour]) * rng.uniform(0.85, 1.0) + rng.normal(0, 6, (64, 64, 3))
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / folder / f"{index}.png")


def run_on_colours(tmp_path_factory, shuffle_labels, *parameters):
    base = tmp_path_factory.mktemp("shuffled" if shuffle_labels else "colours")
    write_colour_tree(base / "images", shuffle_labels)
    process = run_papermill(base / "executed.ipynb", "input_path", base / "images", "output_path",
                            base / "output", "image_glob", "*.png", "progress_seconds", 0.5, *parameters)
    assert process.returncode == 0, process.stderr[-5000:]
    return base, process


@pytest.fixture(scope="module")
def colours_run(ci_inputs, tmp_path_factory):
    """Classes that differ clearly (flat colours), with pca_k given as a variance fraction."""
    return run_on_colours(tmp_path_factory, False, "pca_k", 0.95)


@pytest.fixture(scope="module")
def shuffled_run(ci_inputs, tmp_path_factory):
    """The same kind of images with their folders (labels) drawn at random."""
    return run_on_colours(tmp_path_factory, True, "pca_k", 3)


def numpy_explained_ratio(features):
    x = np.stack(features["features"]).astype(np.float64)
    singular = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    return singular ** 2 / (singular ** 2).sum()


def test_plots_are_saved_as_real_pngs(ci_run):
    for name in ("explained_variance.png", "pca_scatter.png"):
        image = Image.open(ci_run / "report" / name)
        assert image.format == "PNG" and image.width >= 400 and image.height >= 300
        pixels = np.asarray(image.convert("RGB"))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{name} is nearly blank"


def test_plots_show_inline_in_the_python3_kernel(ci_run):
    notebook = nbformat.read(ci_run / "executed.ipynb", as_version=4)
    shown = [cell for cell in notebook.cells if "%matplot plt" in cell.source.splitlines()]
    assert len(shown) == 2
    assert all(any("image/png" in output.get("data", {}) for output in cell.outputs) for cell in shown)


def test_explained_variance_matches_numpy(ci_run):
    manifest, features = read_output(ci_run)
    expected = numpy_explained_ratio(features)
    k = CI_PARAMS["pca_k"]
    np.testing.assert_allclose(manifest["pca"]["explained_variance"], expected[:k], rtol=1e-6)
    for share, count in manifest["pca"]["components_for_variance"].items():
        fraction = int(share.rstrip("%")) / 100
        assert count == np.argmax(np.cumsum(expected) >= fraction - 1e-12) + 1, share


def test_variance_fraction_picks_the_smallest_k_reaching_it(colours_run):
    base, _ = colours_run
    manifest, features = read_output(base / "output")
    cumulative = np.cumsum(numpy_explained_ratio(features))
    k = manifest["pca"]["k"]
    assert cumulative[k - 1] >= 0.95 > (cumulative[k - 2] if k > 1 else 0)
    assert all(len(scores) == k for scores in features["pca"])
    assert manifest["parameters"]["pca_k"] == 0.95


def test_nearest_neighbour_agreement_is_high_for_distinct_classes(colours_run):
    base, _ = colours_run
    agreement = read_output(base / "output")[0]["nearest_neighbour_agreement"]
    assert agreement["sample"] == len(COLOURS) * PER_COLOUR
    assert agreement["agreement"] >= 0.9


def test_nearest_neighbour_agreement_is_near_chance_with_shuffled_labels(shuffled_run):
    base, _ = shuffled_run
    agreement = read_output(base / "output")[0]["nearest_neighbour_agreement"]
    assert agreement["chance"] == pytest.approx((PER_COLOUR - 1) / (len(COLOURS) * PER_COLOUR - 1))
    assert abs(agreement["agreement"] - agreement["chance"]) < 0.2


def test_headless_run_logs_featurization_progress(colours_run):
    _, process = colours_run
    total = len(COLOURS) * PER_COLOUR
    assert f"featurized {total}/{total} images in" in process.stderr  # papermill --log-output
    assert "images/s)" in process.stderr


def test_run_record_has_stage_times_and_throughput(ci_run):
    manifest = json.loads((ci_run / "manifest.json").read_text())
    assert {"spark session", "load", "featurize", "pca", "write", "export csv", "report"} <= set(manifest["stage_seconds"])
    assert all(seconds >= 0 for seconds in manifest["stage_seconds"].values())
    assert manifest["throughput"]["images_per_second"] > 0
    assert manifest["pca"]["k"] == CI_PARAMS["pca_k"]
