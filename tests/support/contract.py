"""The output contract of docs/outputs.md, checked on a finished run wherever it wrote (local folder or S3)."""

import numpy as np
import pandas as pd

from support.helpers import FEATURE_SIZE


def assert_output_contract(features: pd.DataFrame, csv: pd.DataFrame, input_uri: str, relative_images: list,
                           labels: list, k: int) -> None:
    """`features` (the parquet) and `csv` (pca_features.csv) of a run over `relative_images` under
    `input_uri`: one row per image with its folder as label, 1280 finite features, k PCA scores,
    and CSV image paths relative to `input_uri` matching the parquet's full paths."""
    assert sorted(features["path"]) == sorted(f"{input_uri.rstrip('/')}/{image}" for image in relative_images)
    assert sorted(features["label"].unique()) == sorted(labels)
    assert all(path.split("/")[-2] == label for path, label in zip(features["path"], features["label"]))
    vectors = np.stack(features["features"])
    assert vectors.shape == (len(relative_images), FEATURE_SIZE) and np.isfinite(vectors).all()
    assert all(len(scores) == k for scores in features["pca"])

    assert list(csv.columns) == ["image", "label"] + [f"pc_{i + 1}" for i in range(k)]
    assert list(csv["image"]) == sorted(relative_images)
    assert (csv["image"].str.split("/").str[0] == csv["label"]).all()
    scores_by_path = dict(zip(features["path"], features["pca"]))
    for row in csv.itertuples(index=False):
        np.testing.assert_allclose(row[2:], scores_by_path[f"{input_uri.rstrip('/')}/{row.image}"])
