"""``mlml.suggest``: ranking of likely missing positives on real data, and its output formats."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlml.exceptions import MLMLError
from mlml.suggest import COLUMNS, format_table, missing_scores, suggest, write_suggestions_csv


@pytest.fixture(scope="module")
def coco_subsample(coco_dir):
    """5,000 training rows of COCO split 1 at r = 0.5 (the seed's own hidden positives)."""
    from mlml.data.seedfolds import load_seed_split

    split = load_seed_split(coco_dir, 1, 0.5)
    rows = np.random.default_rng(0).choice(len(split.observed), 5000, replace=False)
    ids = split.ids[split.train_index][rows]
    return split.observed[rows], split.hidden[rows], ids, split.label_names


def test_labels_only_ranking_beats_class_frequency(coco_subsample):
    observed, hidden, _, _ = coco_subsample
    zero = observed == 0
    score = missing_scores(observed, method="labels")["score"]
    auc = roc_auc_score(hidden[zero], score[zero])
    frequency = np.broadcast_to(observed.mean(axis=0), observed.shape)
    baseline = roc_auc_score(hidden[zero], frequency[zero])
    assert auc > baseline + 0.05 and auc > 0.85


def test_suggestions_are_the_best_scored_zeros_with_evidence(coco_subsample):
    observed, hidden, ids, names = coco_subsample
    rows = suggest(observed, label_names=names, ids=ids, top_k=200)
    assert [r["rank"] for r in rows] == list(range(1, 201))
    assert all(list(r) == list(COLUMNS) for r in rows)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    position = {s: i for i, s in enumerate(ids)}
    entries = [(position[r["id"]], names.index(r["label"])) for r in rows]
    assert all(observed[i, c] == 0 for i, c in entries)
    full = missing_scores(observed, method="labels")["score"]
    assert min(scores) >= np.sort(full[observed == 0])[-200] - 1e-12
    precision = np.mean([hidden[i, c] for i, c in entries])
    assert precision > 2 * hidden[observed == 0].mean()  # far above picking zeros at random
    assert all(r["co_occurring"] for r in rows)  # every suggestion names the labels that support it
    assert rows[0]["neighbour_vote"] is None and rows[0]["neighbours"] == ""


def test_features_and_model_probabilities_are_used():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0], axis=1).astype(np.int8)
    observed = y.copy()
    observed[:10, 0] = 0
    rows = suggest(observed, features=x, top_k=5, method="knn")
    assert all(r["neighbour_vote"] is not None for r in rows)
    carriers = rows[0]["neighbours"].split("; ")
    assert all(carriers) and all(observed[int(j), int(rows[0]["label"])] == 1 for j in carriers)
    proba = np.full(y.shape, 0.05)
    proba[50, 1] = 0.99
    observed[50, 1] = 0
    with_model = missing_scores(observed, probabilities=proba, method="labels")["score"]
    without = missing_scores(observed, method="labels")["score"]
    assert with_model[50, 1] > without[50, 1]
    assert suggest(observed, probabilities=proba, top_k=1)[0]["model_probability"] is not None


def test_output_files_and_table(tmp_path):
    observed = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1], [-1, 1, 0]], dtype=np.int8)
    rows = suggest(observed, label_names=["a", "b", "c"], ids=list("vwxyz"), top_k=50)
    assert len(rows) == int((observed == 0).sum())  # capped at the number of observed zeros
    path = write_suggestions_csv(rows, tmp_path / "s.csv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == list(COLUMNS) and len(read) == len(rows)
    assert read[0]["id"] == rows[0]["id"] and float(read[0]["score"]) == pytest.approx(rows[0]["score"], 1e-5)
    assert read[0]["neighbour_vote"] == ""
    table = format_table(rows, 2)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["rank", "id", "label", "score"] and len(lines) == 2 + 2 + 1
    assert "more in the CSV" in lines[-1]
    assert "No suggestions" in format_table([], 5)


def test_errors_name_the_parameter():
    observed = np.array([[1, 0], [0, 1]], dtype=np.int8)
    with pytest.raises(MLMLError, match="label_names"):
        suggest(observed, label_names=["a"])
    with pytest.raises(MLMLError, match="features"):
        suggest(observed, method="knn")
    with pytest.raises(MLMLError, match="method"):
        suggest(observed, method="magic")
    with pytest.raises(MLMLError, match="top_k"):
        suggest(observed, top_k=0)
    for prior in ("knn", "ignore-missing", "pu-adaptive"):  # features, the hidden mask, a model: not labels only
        with pytest.raises(MLMLError, match="'prior' parameter of suggest must name a labels-only"):
            suggest(observed, prior=prior)
