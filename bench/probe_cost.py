"""The linear probe's cost: its share of a whole run's time, on a few thousand and on 10,000+ images.

For each size, generates 100x100 JPEGs of the 8 sample classes (tools/sample_images.py; reused when
already there), with the fixture weights (tools/fixture_weights.py), and runs the notebook through
papermill with its default parameters (spark_master local[*], probe_test_fraction 0.2, pca_k 20),
each run in a new process. From each run's manifest it prints the time of each step, the probe's
seconds and its share of the run (of the steps' sum, the notebook's own time, and of the process's
wall time, which adds the kernel's start), and the probe's fits: k, seconds, iterations, accuracy.
With --caps, it then runs the notebook's own probe functions (tools/notebook_code.py) on the largest
run's features again, once per cap of training images per label, and prints the ladder's time and
accuracies: what PROBE_MAX_TRAINING_PER_LABEL costs and changes. It prints figures; it asserts
nothing. Writes build/bench/probe_cost.json.

    .venv/bin/python bench/probe_cost.py                             # 3,000 and 10,000 images
    .venv/bin/python bench/probe_cost.py --caps 1000 500 250         # and the training cap
    .venv/bin/python bench/probe_cost.py --sizes 1000                # a quick trial
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from sample_images import FRUITS, make_sample  # noqa: E402

WORK = REPO / "build" / "bench"
NOTEBOOK = REPO / "notebooks" / "featurize.ipynb"
WEIGHTS = WORK / "fixture.weights.h5"


def images_of(count):
    """A folder of `count` generated images (count // 8 of each class), made once."""
    folder = WORK / f"images-{count}"
    if not (folder / ".done").is_file():
        make_sample(folder, per_class=count // len(FRUITS))
        (folder / ".done").touch()
    return folder


def run(count):
    """One notebook run on `count` images: (its manifest, the process's wall seconds)."""
    output = WORK / f"probe-run-{count}"
    output.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output / "executed.ipynb"), "-k", "python3",
               "-p", "input_path", str(images_of(count)), "-p", "output_path", str(output),
               "-p", "weights", str(WEIGHTS)]
    environment = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    started = time.perf_counter()
    process = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if process.returncode:
        sys.exit(f"run on {count} images failed:\n{process.stderr[-3000:]}")
    return json.loads((output / "manifest.json").read_text()), wall


def ladder_by_cap(run_output, caps):
    """For each cap of training images per label: the training images, the ladder's wall seconds and its
    rows (k, accuracy, iterations), from the run's features projected on their first 200 components with
    numpy, split and fitted by the notebook's own functions on a local Spark."""
    import numpy as np
    import pandas as pd
    from notebook_code import notebook_functions
    from pyspark.ml.feature import StringIndexerModel
    from pyspark.sql import SparkSession

    notebook = notebook_functions()
    features = pd.read_parquet(run_output / "features", columns=["path", "label", "features"])
    x = np.stack(features["features"]).astype(np.float64)
    axes = np.linalg.eigh(np.cov(x, rowvar=False))[1][:, ::-1][:, :200]
    scores = (x - x.mean(axis=0)) @ axes
    input_uri = features["path"].iloc[0].rsplit("/", 2)[0]
    spark = SparkSession.builder.master("local[*]").config("spark.driver.memory", "4g").getOrCreate()
    scores_df = spark.createDataFrame([(path, label, row.tolist()) for path, label, row in
                                       zip(features["path"], features["label"], scores)],
                                      "path string, label string, pca array<double>")
    results = []
    for cap in caps:
        split = notebook.probe_split(scores_df, input_uri, 0.2, cap, spark.sparkContext.defaultParallelism).persist()
        sizes = notebook.split_sizes(split)
        labels = list(sizes.index)
        indexed = StringIndexerModel.from_labels(labels, inputCol="label", outputCol="label_index").transform(split)
        started = time.perf_counter()
        ladder, _ = notebook.fit_ladder(indexed.where("side = 'training'"), indexed.where("side = 'held out'"),
                                        labels, list(notebook.PROBE_LADDER), np.ones(200) / 200)
        results.append({"cap": cap, "training": int(sizes["training"].sum()),
                        "seconds": round(time.perf_counter() - started, 1),
                        "ladder": ladder.reset_index()[["k", "accuracy", "iterations"]].to_dict("records")})
        split.unpersist()
    spark.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 10000])
    parser.add_argument("--caps", type=int, nargs="*", default=[])
    arguments = parser.parse_args()
    sizes = arguments.sizes
    WORK.mkdir(parents=True, exist_ok=True)
    if not WEIGHTS.is_file():
        subprocess.run([sys.executable, str(REPO / "tools" / "fixture_weights.py"), str(WEIGHTS)], check=True)
    with open("/proc/loadavg") as load:
        load_before = load.read().split()[:3]
    results = []
    for count in sizes:
        manifest, wall = run(count)
        stages = manifest["stage_seconds"]
        notebook_seconds = sum(stages.values())
        probe = manifest["probe"]
        results.append({"images": count, "process_seconds": round(wall, 1), "notebook_seconds": notebook_seconds,
                        "probe_seconds": stages["probe"], "stage_seconds": stages,
                        "probe_share_of_notebook": round(stages["probe"] / notebook_seconds, 3),
                        "probe_share_of_process": round(stages["probe"] / wall, 3),
                        "probe_images": probe["images"], "ladder": probe.get("ladder", [])})
    caps = ladder_by_cap(WORK / f"probe-run-{max(sizes)}", arguments.caps) if arguments.caps else []
    with open("/proc/loadavg") as load:
        load_after = load.read().split()[:3]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    for result in results:
        print(f"\n{result['images']} images: process {result['process_seconds']} s, notebook steps "
              f"{result['notebook_seconds']:.1f} s, probe {result['probe_seconds']} s = "
              f"{result['probe_share_of_notebook']:.1%} of the steps, {result['probe_share_of_process']:.1%} "
              f"of the process; probe images {result['probe_images']}")
        print("  steps: " + ", ".join(f"{name} {seconds}" for name, seconds in result["stage_seconds"].items()))
        for rung in result["ladder"]:
            print(f"  k = {rung['k']:>3}: {rung['seconds']:6.2f} s, {rung['iterations']:3d} iterations, held-out "
                  f"accuracy {rung['accuracy']:.3f}, macro-F1 {rung['macro_f1']:.3f}")
    for result in caps:
        print(f"\ncap {result['cap']} training images per label ({max(sizes)} images): {result['training']} training "
              f"images, the ladder in {result['seconds']} s; k, accuracy, iterations: "
              + ", ".join(f"{rung['k']} {rung['accuracy']:.3f} {rung['iterations']}" for rung in result["ladder"]))
    (WORK / "probe_cost.json").write_text(json.dumps({"runs": results, "caps": caps}, indent=2))


if __name__ == "__main__":
    main()
