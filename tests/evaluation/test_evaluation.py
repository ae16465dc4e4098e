"""mlml.evaluation against scikit-learn, with and without masks, and its undefined-case policy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from mlml.evaluation import (
    FALLBACK_THRESHOLD,
    PER_CLASS_METRICS,
    SCALAR_METRICS,
    UndefinedMetricWarning,
    evaluate,
    ranking_metrics,
    threshold_grid,
    tune_thresholds,
)
from mlml.exceptions import MLMLError


def _random_problem(seed: int, n: int = 400, c: int = 7, *, unknown: float = 0.0, ties: bool = False):
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.05, 0.5, size=c)
    y = (rng.random((n, c)) < rates).astype(np.int8)
    # Scores correlated with the labels so that the metrics are far from trivial.
    scores = np.clip(0.35 * y + rng.normal(0.35, 0.2, size=(n, c)), 0, 1)
    if ties:
        scores = np.round(scores, 1)
    if unknown:
        y[rng.random((n, c)) < unknown] = -1
    return y, scores, rng


def _reference(y, scores, scored, thresholds):
    """scikit-learn, one class at a time on the scored entries, and pooled for the micro metrics."""
    c = y.shape[1]
    pred = scores >= thresholds
    has_pos = np.array([(y[scored[:, j], j] == 1).any() for j in range(c)])
    defined = np.array([len(np.unique(y[scored[:, j], j])) == 2 for j in range(c)])
    ref = {
        "ap": np.array(
            [
                average_precision_score(y[scored[:, j], j], scores[scored[:, j], j]) if defined[j] else np.nan
                for j in range(c)
            ]
        ),
        "auc": np.array(
            [
                roc_auc_score(y[scored[:, j], j], scores[scored[:, j], j]) if defined[j] else np.nan
                for j in range(c)
            ]
        ),
        "f1": np.array(
            [
                f1_score(y[scored[:, j], j], pred[scored[:, j], j], zero_division=0) if has_pos[j] else np.nan
                for j in range(c)
            ]
        ),
        "tp": np.array([int(((y[:, j] == 1) & pred[:, j] & scored[:, j]).sum()) for j in range(c)]),
        "support": np.array([int(((y[:, j] == 1) & scored[:, j]).sum()) for j in range(c)]),
    }
    yt, yp = y[scored], pred[scored]
    ref["micro"] = precision_recall_fscore_support(yt, yp, average="binary", zero_division=0)[:3]
    ref["micro_auc"] = roc_auc_score(yt, scores[scored])
    macro = [
        np.mean(
            [
                precision_recall_fscore_support(
                    y[scored[:, j], j], pred[scored[:, j], j], average="binary", zero_division=0
                )[k]
                for j in np.flatnonzero(has_pos)
            ]
        )
        for k in range(3)
    ]
    ref["macro"] = macro
    ref["map"] = np.nanmean(ref["ap"][defined])
    ref["macro_auc"] = np.nanmean(ref["auc"][defined])
    return ref


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12, err_msg=key)


def _check_against_reference(result, ref):
    np.testing.assert_allclose(result["per_class_ap"], ref["ap"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["per_class_auc"], ref["auc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["per_class_f1"], ref["f1"], rtol=0, atol=1e-12)
    assert result["per_class_tp"] == ref["tp"].tolist()
    assert result["per_class_support"] == ref["support"].tolist()
    np.testing.assert_allclose(
        [result["micro_precision"], result["micro_recall"], result["micro_f1"]], ref["micro"], atol=1e-12
    )
    np.testing.assert_allclose(result["micro_auc"], ref["micro_auc"], atol=1e-12)
    np.testing.assert_allclose(
        [result["macro_precision"], result["macro_recall"], result["macro_f1"]], ref["macro"], atol=1e-12
    )
    np.testing.assert_allclose(result["map"], ref["map"], atol=1e-12)
    np.testing.assert_allclose(result["macro_auc"], ref["macro_auc"], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_all_known_matches_sklearn_multilabel(seed, ties):
    y, scores, _ = _random_problem(seed, ties=ties)
    result = evaluate(y, scores)
    pred = (scores >= 0.5).astype(int)
    # With every entry known, scikit-learn's own multilabel averages apply directly.
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="micro", zero_division=0)
    np.testing.assert_allclose(
        [result["micro_precision"], result["micro_recall"], result["micro_f1"]], [p, r, f], atol=1e-12
    )
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    np.testing.assert_allclose(
        [result["macro_precision"], result["macro_recall"], result["macro_f1"]], [p, r, f], atol=1e-12
    )
    np.testing.assert_allclose(result["map"], average_precision_score(y, scores, average="macro"), atol=1e-12)
    np.testing.assert_allclose(result["macro_auc"], roc_auc_score(y, scores, average="macro"), atol=1e-12)
    np.testing.assert_allclose(result["micro_auc"], roc_auc_score(y, scores, average="micro"), atol=1e-12)
    assert result["n_classes_undefined"] == 0
    assert result["n_scored"] == y.size
    _check_against_reference(result, _reference(y, scores, np.ones_like(y, dtype=bool), 0.5))


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("ties", [False, True])
def test_unknown_entries_and_mask_match_sklearn_on_scored_entries(seed, ties):
    y, scores, rng = _random_problem(seed, unknown=0.2, ties=ties)
    mask = rng.random(y.shape) < 0.7
    result = evaluate(y, scores, mask=mask)
    _check_against_reference(result, _reference(y, scores, (y != -1) & mask, 0.5))
    # Unknown entries are ignored whatever their score.
    flipped = scores.copy()
    flipped[y == -1] = 1 - flipped[y == -1]
    again = evaluate(y, flipped, mask=mask)
    _assert_same(again, result)


def test_mask_is_the_same_as_marking_entries_unknown():
    y, scores, rng = _random_problem(5, unknown=0.1)
    mask = rng.random(y.shape) < 0.6
    y_unknown = y.copy()
    y_unknown[~mask] = -1
    _assert_same(evaluate(y, scores, mask=mask), evaluate(y_unknown, scores))
    # 0/1 integer masks and sparse labels are accepted.
    _assert_same(evaluate(sp.csr_matrix(y), scores, mask=mask.astype(int)), evaluate(y, scores, mask=mask))


def test_per_class_thresholds_match_sklearn():
    y, scores, rng = _random_problem(6, unknown=0.1)
    thresholds = rng.uniform(0.2, 0.8, size=y.shape[1])
    result = evaluate(y, scores, threshold=thresholds)
    _check_against_reference(result, _reference(y, scores, y != -1, thresholds))
    # A per-class array of equal values is the scalar threshold.
    _assert_same(evaluate(y, scores, threshold=np.full(y.shape[1], 0.4)), evaluate(y, scores, threshold=0.4))


def test_class_without_positives_is_dropped_with_warning():
    y, scores, _ = _random_problem(7, unknown=0.1)
    y[:, 2] = np.where(y[:, 2] == -1, -1, 0)  # no positives
    y[:, 4] = np.where(y[:, 4] == -1, -1, 1)  # no negatives
    with pytest.warns(UndefinedMetricWarning, match="2 of 7 classes"):
        result = evaluate(y, scores)
    assert result["n_classes_undefined"] == 2
    assert result["n_classes_no_positives"] == 1
    assert np.isnan(result["per_class_ap"][2]) and np.isnan(result["per_class_auc"][4])
    assert np.isnan(result["per_class_f1"][2]) and not np.isnan(result["per_class_f1"][4])
    assert result["per_class_support"][2] == 0
    _check_against_reference(result, _reference(y, scores, y != -1, 0.5))
    defined = [j for j in range(7) if j not in (2, 4)]
    assert result["map"] == pytest.approx(np.mean(np.asarray(result["per_class_ap"])[defined]))
    # Without positives in the unmasked case, macro P/R/F1 equal sklearn restricted to classes with support.
    full = np.where(y == -1, 0, y)
    with pytest.warns(UndefinedMetricWarning, match="1 of 7"):
        res_full = evaluate(full, scores)
    labels = np.flatnonzero(full.sum(axis=0) > 0)
    p, r, f, _ = precision_recall_fscore_support(
        full, (scores >= 0.5).astype(int), labels=labels, average="macro", zero_division=0
    )
    assert [res_full["macro_precision"], res_full["macro_recall"], res_full["macro_f1"]] == pytest.approx(
        [p, r, f], abs=1e-12
    )


def test_no_warning_when_every_class_is_defined():
    y, scores, _ = _random_problem(8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(y, scores)


def test_all_negative_scored_entries_give_nan_aucs():
    y = np.zeros((5, 2), dtype=np.int8)
    scores = np.linspace(0, 1, 10).reshape(5, 2)
    with pytest.warns(UndefinedMetricWarning):
        result = evaluate(y, scores)
    assert np.isnan(result["micro_auc"]) and np.isnan(result["map"]) and np.isnan(result["macro_f1"])
    assert result["micro_recall"] == 0.0 and result["micro_precision"] == 0.0
    assert result["n_classes_undefined"] == 2


def test_result_keys_and_json_friendly_types():
    y, scores, _ = _random_problem(9)
    result = evaluate(y, scores)
    assert set(result) == set(SCALAR_METRICS) | set(PER_CLASS_METRICS)
    for key in SCALAR_METRICS:
        assert type(result[key]) in (int, float), key
    for key in PER_CLASS_METRICS:
        assert isinstance(result[key], list) and len(result[key]) == y.shape[1]


def test_docstring_example():
    y = np.array([[1, 0], [0, -1], [1, 1]], dtype=np.int8)
    p = np.array([[0.9, 0.2], [0.6, 0.5], [0.4, 0.7]])
    result = evaluate(y, p)
    assert result["micro_precision"] == pytest.approx(2 / 3)
    assert result["per_class_tp"] == [1, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scores": np.zeros((3, 2))}, "shape of y_true"),
        ({"scores": np.full((4, 2), np.nan)}, "must be finite"),
        ({"threshold": np.array([0.5, 0.5, 0.5])}, "one threshold per class"),
        ({"threshold": "high"}, "'threshold'"),
        ({"mask": np.ones((4, 3), dtype=bool)}, "'mask'"),
        ({"mask": np.full((4, 2), 2)}, "boolean"),
        ({"mask": np.zeros((4, 2), dtype=bool)}, "no entry to score"),
    ],
)
def test_bad_input_raises_naming_the_parameter(kwargs, match):
    args = {
        "y_true": np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.int8),
        "scores": np.full((4, 2), 0.5),
    }
    args.update(kwargs)
    y_true, scores = args.pop("y_true"), args.pop("scores")
    with pytest.raises(MLMLError, match=match):
        evaluate(y_true, scores, **args)


def test_bad_labels_raise():
    with pytest.raises(MLMLError, match="y_true"):  # 2 is a verified negative (issue 14); 3 is no label at all
        evaluate(np.array([[3, 0]]), np.array([[0.1, 0.2]]))


def test_ranking_metrics_single_column_and_all_ties():
    scores = np.array([[0.5], [0.5], [0.5], [0.5]])
    positive = np.array([[True], [False], [True], [False]])
    ap, auc = ranking_metrics(scores, positive)
    assert auc[0] == pytest.approx(0.5) and ap[0] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------- thresholds
def _brute_force_thresholds(y, scores, scored, candidates):
    out = np.empty(y.shape[1])
    for j in range(y.shape[1]):
        yt, st = y[scored[:, j], j], scores[scored[:, j], j]
        f1s = np.array([f1_score(yt, st >= t, zero_division=0) for t in candidates])
        if yt.sum() == 0 or f1s.max() <= 0:
            out[j] = FALLBACK_THRESHOLD
            continue
        best = np.flatnonzero(np.isclose(f1s, f1s.max(), rtol=0, atol=1e-12))
        out[j] = candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]]
    return out


@pytest.mark.parametrize("use_mask", [False, True])
def test_tune_thresholds_matches_brute_force(use_mask):
    y, scores, rng = _random_problem(10, n=300, c=5, unknown=0.1)
    mask = rng.random(y.shape) < 0.8 if use_mask else None
    grid = 19
    tuned = tune_thresholds(y, scores, mask=mask, grid=grid)
    scored = (y != -1) & (mask if use_mask else True)
    expected = _brute_force_thresholds(y, scores, scored, threshold_grid(grid))
    np.testing.assert_array_equal(tuned, expected)
    # The tuned thresholds never do worse than 0.5 on the split they were tuned on.
    at_half = evaluate(y, scores, mask=mask)["per_class_f1"]
    at_tuned = evaluate(y, scores, mask=mask, threshold=tuned)["per_class_f1"]
    assert np.all(np.asarray(at_tuned) >= np.asarray(at_half) - 1e-12)


def test_tune_thresholds_explicit_grid_and_fallback():
    y, scores, _ = _random_problem(11, n=200, c=4)
    y[:, 1] = 0
    with pytest.warns(UndefinedMetricWarning, match="1 of 4 classes"):
        tuned = tune_thresholds(y, scores, grid=[0.3, 0.6, 0.45, 0.3])
    assert tuned[1] == FALLBACK_THRESHOLD
    assert set(tuned[[0, 2, 3]]) <= {0.3, 0.45, 0.6}


def test_tune_thresholds_separable_class_picks_threshold_in_gap():
    y = np.array([[1], [1], [0], [0]], dtype=np.int8)
    scores = np.array([[0.9], [0.8], [0.2], [0.1]])
    # Every candidate in (0.2, 0.8] separates perfectly: the one closest to 0.5 wins.
    assert tune_thresholds(y, scores)[0] == pytest.approx(0.5)
    y2, s2 = y, np.array([[0.95], [0.9], [0.7], [0.1]])
    assert tune_thresholds(y2, s2)[0] == pytest.approx(0.71)


@pytest.mark.parametrize("grid", [0, -3, [], [np.inf], "x"])
def test_tune_thresholds_bad_grid(grid):
    with pytest.raises(MLMLError, match="'grid'"):
        tune_thresholds(np.array([[1, 0]]), np.array([[0.5, 0.5]]), grid=grid)


@pytest.mark.slow
def test_coco_scale_agrees_with_sklearn(coco_dir):
    """Real COCO labels (33k x 80) with noisy scores: micro/macro ranking metrics vs scikit-learn."""
    from mlml.labels import read_labels_csv

    table = read_labels_csv(coco_dir / "labels.csv.gz")
    y = table.values[:8000]
    rng = np.random.default_rng(0)
    scores = np.clip(0.3 * y + rng.random(y.shape) * 0.7, 0, 1)
    result = evaluate(y, scores)
    assert result["map"] == pytest.approx(average_precision_score(y, scores, average="macro"), abs=1e-10)
    assert result["micro_auc"] == pytest.approx(roc_auc_score(y, scores, average="micro"), abs=1e-10)
    tuned = tune_thresholds(y, scores)
    assert tuned.shape == (y.shape[1],)
