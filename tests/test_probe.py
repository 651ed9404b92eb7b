"""The linear probe (step 7): its ladder of k, the split of each label into training and held-out images,
the accuracy form of pca_k, the tables, and its held-out accuracy against scikit-learn's on the same split.

The fast tests call the notebook's functions on small pandas tables; the slow ones run them on a local
Spark (two cores) on a few hundred rows of synthetic scores, without the notebook."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from support.colour_tree import COLOURS
from support.helpers import read_output, stdout_text

INPUT_URI = "file:/data/fruits"


# --- fast: the ladder, the choice of k, the scores and tables from a confusion ---------------------------

@pytest.mark.parametrize("value, tolerance", [("accuracy:0.01", 0.01), ("accuracy:0", 0.0), ("accuracy:.5", 0.5),
                                              ("accuracy:1", None), ("accuracy:-0.1", None), ("accuracy:", None),
                                              ("accuracy:0.01 ", None), ("variance:0.9", None), (0.01, None)])
def test_accuracy_tolerance_reads_the_third_form_of_pca_k_only(notebook, value, tolerance):
    assert notebook.accuracy_tolerance(value) == tolerance


@pytest.mark.parametrize("requested_k, featurized, ladder", [
    (20, 10_000, [2, 5, 10, 20, 50, 100, 200]),  # the requested k is a rung already
    (None, 10_000, [2, 5, 10, 20, 50, 100, 200]),  # "accuracy:T": the ladder alone
    (37, 10_000, [2, 5, 10, 20, 37, 50, 100, 200]),
    (500, 10_000, [2, 5, 10, 20, 50, 100, 200]),  # above the cap: not probed
    (4, 20, [2, 4, 5, 10]),  # up to featurized - 1 = 19, the rank of the centred features
    (1, 3, [1, 2]),
    (None, 2, []),
])
def test_the_ladder_has_the_fixed_rungs_and_the_requested_k_up_to_the_cap_and_the_rank(notebook, requested_k,
                                                                                      featurized, ladder):
    assert notebook.probe_ladder(requested_k, featurized) == ladder


def a_ladder(accuracies):
    return pd.DataFrame({"k": list(accuracies), "accuracy": list(accuracies.values())}).set_index("k")


CURVE = a_ladder({2: 0.40, 5: 0.81, 10: 0.905, 20: 0.914, 50: 0.915, 100: 0.91, 200: 0.90})


@pytest.mark.parametrize("tolerance, k", [(0.01, 10), (0.001, 20), (0.0, 50), (0.2, 5), (0.6, 2)])
def test_the_accuracy_form_picks_the_smallest_k_within_the_tolerance_of_the_best(notebook, tolerance, k):
    assert notebook.smallest_k_within(CURVE, tolerance) == k


def test_the_accuracy_form_counts_an_accuracy_exactly_at_the_tolerance_as_within(notebook):
    # 0.9 - 0.1 is 0.8 in decimal but not in binary floating point: the k at exactly 0.8 is within.
    assert notebook.smallest_k_within(a_ladder({2: 0.7, 5: 0.8, 10: 0.9}), 0.1) == 5


def test_choose_k_leaves_the_accuracy_form_to_the_probe(notebook):
    assert notebook.choose_k("accuracy:0.01", np.full(10, 0.1), featurized=20, rejected=0) is None


def test_the_reason_for_k_names_the_rule_and_the_figures(notebook):
    explained = np.full(10, 0.1)
    assert notebook.k_reason(3, 3, explained, CURVE) == "pca_k = 3: the count asked for"
    assert notebook.k_reason(0.95, 10, explained, CURVE) == (
        "pca_k = 0.95: the fewest components explaining at least 95% of the variance")
    assert notebook.k_reason("accuracy:0.01", 10, explained, CURVE) == (
        "pca_k = 'accuracy:0.01': the smallest k of the probe's ladder whose held-out accuracy (0.905) is within "
        "0.01 of its best (0.915, k = 50)")


def a_confusion(pairs):
    """The confusion of held-out (label, predicted) pairs, as held_out_confusion returns it."""
    counts = pd.Series(pairs).value_counts()
    return pd.DataFrame({"label": [pair[0] for pair in counts.index], "predicted": [pair[1] for pair in counts.index],
                         "count": counts.to_numpy()})


def test_accuracy_and_macro_f1_from_the_confusion_equal_scikit_learns_on_the_same_predictions(notebook):
    rng = np.random.default_rng(5)
    labels = np.array(["Apple", "Banana", "Cherry", "Kiwi"])
    truth = rng.choice(labels, 200)
    predicted = np.where(rng.random(200) < 0.6, truth, rng.choice(labels[:3], 200))  # Kiwi never predicted
    accuracy, macro_f1 = notebook.probe_scores(a_confusion(list(zip(truth, predicted))))
    assert accuracy == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
    assert macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0), abs=1e-12)


CONFUSION = a_confusion([("Apple Red", "Apple Red")] * 6 + [("Apple Red", "Apple Pink")] * 4
                        + [("Apple Pink", "Apple Pink")] * 5 + [("Apple Pink", "Apple Red")] * 5
                        + [("Banana", "Banana")] * 10 + [("Kiwi", "Kiwi")] * 9 + [("Kiwi", "Banana")])


def test_the_lowest_recall_table_lists_the_labels_least_recognised_first(notebook):
    table = notebook.lowest_recall(CONFUSION, 3)
    assert table.to_dict("list") == {"label": ["Apple Pink", "Apple Red", "Kiwi"], "held_out": [10, 10, 10],
                                     "recall": [0.5, 0.6, 0.9]}


def test_the_most_confused_table_lists_the_most_frequent_mistakes_first(notebook):
    table = notebook.most_confused(CONFUSION, 2)
    assert table.to_dict("list") == {"label": ["Apple Pink", "Apple Red"], "predicted": ["Apple Red", "Apple Pink"],
                                     "count": [5, 4], "share": [0.5, 0.4]}


def test_a_label_without_images_on_both_sides_is_left_out(notebook):
    sizes = pd.DataFrame({"training": [4, 1, 0], "held out": [1, 0, 1], "unused": [0, 0, 0]},
                         index=["Kiwi", "Lemon", "Pear"])
    assert notebook.labels_left_out(sizes) == ["Lemon", "Pear"]


# --- slow: the split and the fits on a local Spark -------------------------------------------------------

@pytest.fixture(scope="module")
def spark(local_spark):
    """The session's local Spark (conftest): one per test process, shared with test_spark_steps.py."""
    return local_spark


def scores_frame(spark, labels, partitions=2, reverse=False):
    """A scores DataFrame as step 7 makes it (path, label, pca) for {label: array of score rows}, its rows in
    `partitions` partitions, in reverse order if asked."""
    rows = [(f"{INPUT_URI}/{label}/r_{index}_100.jpg", label, [float(value) for value in scores])
            for label, label_scores in labels.items() for index, scores in enumerate(label_scores)]
    rows = rows[::-1] if reverse else rows
    return spark.createDataFrame(rows, "path string, label string, pca array<double>").repartition(partitions)


def blobs(labels=5, per_label=40, width=12, seed=0):
    """Overlapping Gaussian clusters: a classifier is right on some held-out images, not all."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (labels, width))
    return {f"fruit {label}": centres[label] + rng.normal(0, 1.5, (per_label, width)) for label in range(labels)}


def sides(notebook, scores_df, test_fraction=0.2, max_training_per_label=500):
    """{path: side} of the notebook's split."""
    split = notebook.probe_split(scores_df, INPUT_URI, test_fraction, max_training_per_label, 2)
    return dict(split.select("path", "side").toPandas().itertuples(index=False))


@pytest.mark.slow
def test_the_split_is_the_same_whatever_the_partitioning_and_the_order_of_the_rows(notebook, spark):
    one_partition = sides(notebook, scores_frame(spark, blobs(), partitions=1))
    seven_partitions_reversed = sides(notebook, scores_frame(spark, blobs(), partitions=7, reverse=True))
    assert one_partition == seven_partitions_reversed
    assert pd.Series(one_partition).value_counts().to_dict() == {"training": 160, "held out": 40}


@pytest.mark.slow
def test_the_split_holds_out_the_rounded_fraction_of_each_label_at_least_one_and_never_all(notebook, spark):
    sizes = {"one": 1, "two": 2, "three": 3, "ten": 10, "eleven": 11, "thirteen": 13}
    split = sides(notebook, scores_frame(spark, {label: np.zeros((n, 3)) for label, n in sizes.items()}))
    held_out = pd.Series([path.split("/")[-2] for path, side in split.items() if side == "held out"]).value_counts()
    # round(0.2 n), at least 1, at most n - 1 (Spark rounds halves up: 0.2 * 13 = 2.6 -> 3)
    assert held_out.to_dict() == {"two": 1, "three": 1, "ten": 2, "eleven": 2, "thirteen": 3}
    assert split[f"{INPUT_URI}/one/r_0_100.jpg"] == "training"


@pytest.mark.slow
def test_the_split_depends_on_the_path_relative_to_the_input_not_on_where_the_input_is(notebook, spark):
    data = {"Kiwi": np.zeros((30, 2))}
    here = sides(notebook, scores_frame(spark, data))
    rows = [(path.replace(INPUT_URI, "s3://bucket/elsewhere"), "Kiwi", [0.0, 0.0]) for path in here]
    there_df = spark.createDataFrame(rows, "path string, label string, pca array<double>")
    there = notebook.probe_split(there_df, "s3://bucket/elsewhere", 0.2, 500, 2).select("path", "side").toPandas()
    assert {path.replace("s3://bucket/elsewhere", INPUT_URI): side
            for path, side in there.itertuples(index=False)} == here


@pytest.mark.slow
def test_training_images_past_the_cap_per_label_are_unused(notebook, spark):
    split = sides(notebook, scores_frame(spark, {"Kiwi": np.zeros((20, 2)), "Lemon": np.zeros((6, 2))}),
                  max_training_per_label=5)
    counts = pd.Series([(path.split("/")[-2], side) for path, side in split.items()]).value_counts().to_dict()
    assert counts == {("Kiwi", "held out"): 4, ("Kiwi", "training"): 5, ("Kiwi", "unused"): 11,
                      ("Lemon", "held out"): 1, ("Lemon", "training"): 5}


@pytest.mark.slow
def test_a_label_of_one_image_is_left_out_of_the_probe_and_the_others_are_probed(notebook, spark):
    data = {**blobs(labels=3, per_label=10), "lonely": np.zeros((1, 12))}
    split = notebook.probe_split(scores_frame(spark, data), INPUT_URI, 0.2, 500, 2)
    sizes = notebook.split_sizes(split)
    assert notebook.labels_left_out(sizes) == ["lonely"]
    assert sizes.loc["lonely"].to_dict() == {"training": 1, "held out": 0, "unused": 0}


LADDER_KS = [2, 5, 12]


@pytest.fixture(scope="module")
def ladder_and_scikit_learn(notebook, spark):
    """The notebook's ladder on the blobs (fit_ladder: its fits at once, in threads) and, for each k,
    scikit-learn's held-out (truth, predicted) on the same split: (ladder, confusions, reference)."""
    from pyspark.ml.feature import StringIndexerModel

    data = blobs()
    split = notebook.probe_split(scores_frame(spark, data), INPUT_URI, 0.2, 500, 2).persist()
    labels = sorted(data)
    indexed = StringIndexerModel.from_labels(labels, inputCol="label", outputCol="label_index").transform(split)
    ladder, confusions = notebook.fit_ladder(indexed.where("side = 'training'"), indexed.where("side = 'held out'"),
                                             labels, LADDER_KS, np.full(12, 1 / 12))
    local = split.toPandas()
    split.unpersist()
    training, held_out = (local["side"] == "training").to_numpy(), (local["side"] == "held out").to_numpy()
    reference = {}
    for k in LADDER_KS:
        x = np.stack([vector.toArray()[:k] for vector in local["scores"]])
        # Spark ML's objective: mean log-loss + regParam / 2 * |w|^2 on features scaled by their (sample)
        # standard deviation, intercepts not penalized (LogisticRegression's scaladoc, Spark 3.5).
        # scikit-learn's: C * summed log-loss + |w|^2 / 2. The same for C = 1 / (n * regParam) on that scaling.
        scale = x[training].std(axis=0, ddof=1)
        model = LogisticRegression(C=1 / (training.sum() * notebook.PROBE_REG_PARAM), tol=1e-10, max_iter=10_000)
        model.fit(x[training] / scale, local["label"][training])
        reference[k] = (local["label"][held_out].tolist(), model.predict(x[held_out] / scale).tolist())
    return ladder, confusions, reference


@pytest.mark.slow
@pytest.mark.parametrize("k", LADDER_KS)
def test_held_out_accuracy_equals_scikit_learns_logistic_regression_on_the_same_split(notebook,
                                                                                    ladder_and_scikit_learn, k):
    """Tolerance: at most one held-out image of 40 may be predicted differently (an image on the decision
    boundary, which L-BFGS stopping at its tolerance can tip): the confusions then differ by one count
    moved from one cell to another, and the accuracies by at most 1/40."""
    ladder, confusions, reference = ladder_and_scikit_learn
    truth, predicted = reference[k]
    assert len(truth) == 40
    expected = a_confusion(list(zip(truth, predicted))).set_index(["label", "predicted"])["count"]
    found = confusions[k].set_index(["label", "predicted"])["count"]
    assert found.sum() == 40
    assert found.sub(expected, fill_value=0).abs().sum() <= 2
    assert abs(ladder.loc[k, "accuracy"] - accuracy_score(truth, predicted)) <= 1 / 40
    assert 0.3 < accuracy_score(truth, predicted) < 0.95, "the blobs must overlap for the comparison to mean something"
    assert (ladder.loc[k, "accuracy"], ladder.loc[k, "macro_f1"]) == notebook.probe_scores(confusions[k])
    if found.sub(expected, fill_value=0).abs().sum() == 0:
        assert ladder.loc[k, "macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))


# --- slow: a whole run choosing k by accuracy, with a label of one image (conftest's colours_run) ------------------------------------

@pytest.mark.slow
def test_the_accuracy_form_picks_the_k_its_curve_says_and_writes_that_many_scores(notebook, colours_run):
    output = colours_run.output
    manifest, features = read_output(output)
    ladder = pd.DataFrame(manifest["probe"]["ladder"]).set_index("k")
    assert list(ladder.index) == [2, 5, 10, 20]  # up to 32, one less than the 33 images
    k = manifest["pca"]["k"]
    assert k == notebook.smallest_k_within(ladder, 0.01)
    assert manifest["pca"]["chosen_because"].startswith(
        f"pca_k = 'accuracy:0.01': the smallest k of the probe's ladder whose held-out accuracy "
        f"({ladder.loc[k, 'accuracy']:.3f}) is within 0.01 of its best")
    assert {len(scores) for scores in features["pca"]} == {k}
    assert list(pd.read_csv(output / "pca_features.csv").columns)[-1] == f"pc_{k}"


@pytest.mark.slow
def test_a_label_of_one_image_is_named_and_left_out_of_the_probe_of_a_whole_run(colours_run):
    probe = read_output(colours_run.output)[0]["probe"]
    assert probe["labels_left_out"] == ["lonely"] and probe["labels"] == len(COLOURS)
    assert probe["images"] == {"training": 6 * len(COLOURS), "held out": 2 * len(COLOURS), "unused": 0}
    assert "linear probe: labels left out, too few images for both sides: lonely" in stdout_text(colours_run.executed)


@pytest.mark.slow
def test_the_probe_tells_distinct_flat_colours_apart_on_held_out_images(colours_run):
    probe = read_output(colours_run.output)[0]["probe"]
    assert probe["chance"] == pytest.approx(1 / len(COLOURS))
    assert max(rung["accuracy"] for rung in probe["ladder"]) >= 0.9
