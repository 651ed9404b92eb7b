"""Raw MobileNetV2 feature inference, no Spark: (b) of the benchmark.

Images per second on the same images, preprocessed by the notebook's own functions (decode,
model_input: the original method's resize, 224x224, FP32), each runtime warmed up first and timed
five times:
  keras_predict                Keras `model.predict`, batches of 64 (bimodal from run to run);
  onnxruntime                  ONNX Runtime, the Keras model converted as the notebook converts it
                               (tf2onnx), one session with its default threads, batches of 64;
  onnxruntime_notebook_settings  ONNX Runtime as the notebook's workers run it: one single-thread
                               session per core, each on its own share of the batches, in parallel,
                               batches of the notebook's default `inference_batch_size`.
Prints one JSON line: {runtime: {"median", "best", "all"}}.

    python bench/raw_inference.py WEIGHTS_FILE IMAGES_FOLDER NOTEBOOK_BATCH_SIZE
"""

import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from notebook_code import notebook_functions, notebook_parameters  # noqa: E402

notebook = notebook_functions()
APPLY_EXIF_ORIENTATION = notebook_parameters()["apply_exif_orientation"]  # the notebook's default

BATCH = 64  # the raw figures: batches of 64
IMAGES = 512


def load_images(folder, count):
    """The first `count` images of a folder tree, as the notebook gives them to MobileNetV2."""
    paths = sorted(Path(folder).rglob("*.jpg"))[:count]
    return notebook.model_input([notebook.decode(path.read_bytes(), APPLY_EXIF_ORIENTATION) for path in paths])


def onnx_features(session):
    """A function running the session on one batch of images."""
    return lambda batch: session.run(None, {"images": batch})[0]


def rate(run_all, images, repetitions):
    """Images per second of run_all(images) over several timed runs, after one warm-up run."""
    run_all(images)
    speeds = []
    for _ in range(repetitions):
        started = time.perf_counter()
        run_all(images)
        speeds.append(len(images) / (time.perf_counter() - started))
    return {"median": statistics.median(speeds), "best": max(speeds), "all": speeds}


def in_batches(run, batch):
    """A function running `run` on consecutive batches of its input."""
    return lambda images: [run(images[start:start + batch]) for start in range(0, len(images), batch)]


def main(weights, folder, notebook_batch_size, repetitions=5):
    images = load_images(folder, IMAGES)
    base = keras.applications.MobileNetV2(weights=None, include_top=True)
    base.load_weights(weights)
    model = keras.Model(base.input, base.layers[-2].output)
    model_bytes = notebook.to_onnx(model)

    cores = os.cpu_count()
    per_core = [in_batches(onnx_features(notebook.onnx_session(model_bytes, threads=1)), notebook_batch_size) for _ in range(cores)]
    pool = ThreadPoolExecutor(cores)  # ONNX Runtime releases the GIL while it runs
    runtimes = {
        "keras_predict": in_batches(lambda batch: model.predict(batch, batch_size=BATCH, verbose=0), BATCH),
        "onnxruntime": in_batches(onnx_features(onnxruntime.InferenceSession(
            model_bytes, providers=["CPUExecutionProvider"])), BATCH),  # its default threads
        "onnxruntime_notebook_settings": lambda images: list(pool.map(lambda run, share: run(share),
                                                                      per_core, np.array_split(images, cores))),
    }
    print(json.dumps({name: rate(run_all, images, repetitions) for name, run_all in runtimes.items()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
