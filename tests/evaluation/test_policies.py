"""Threshold policies that do not trust the observed zeros (issue 16), checked against literal versions."""

import json

import numpy as np
import pytest

from mlml.evaluation import evaluate, tune_thresholds
from mlml.evaluation.policies import (
    POLICIES,
    Decision,
    expected_f1_thresholds,
    fit_platt,
    fit_policy,
    posterior,
    shared_threshold,
    soft_truth,
)
from mlml.exceptions import MLMLError


def _data(seed=0, n=300, c=6, hide=0.5):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, c)) < 0.3).astype(np.int8)
    scores = np.clip(0.6 * truth * rng.random((n, c)) + 0.4 * rng.random((n, c)), 0.001, 0.999)
    observed = np.where((truth == 1) & (rng.random((n, c)) < hide), 0, truth).astype(np.int8)
    observed[0, 0] = -1
    return truth, scores, observed


def test_expected_f1_is_the_literal_plug_in_maximiser():
    _, scores, observed = _data()
    q = np.where(observed == 0, 0.3, 0.0)
    truth = soft_truth(observed, q)
    grid = np.arange(1, 100) / 100
    thresholds = expected_f1_thresholds(scores, truth, grid=grid)
    for c in range(scores.shape[1]):  # brute force: the expected counts at every candidate
        known = ~np.isnan(truth[:, c])
        t, s = truth[known, c], scores[known, c]
        f1 = [2 * (t * (s >= g)).sum() / (2 * (t * (s >= g)).sum() + ((1 - t) * (s >= g)).sum()
                                          + (t * (s < g)).sum()) for g in grid]
        assert f1[list(grid).index(thresholds[c])] == pytest.approx(max(f1), abs=1e-12)


def test_with_a_zero_posterior_expected_f1_is_the_tuned_policy():
    _, scores, observed = _data(1)
    tuned = tune_thresholds(observed, scores)
    expected = fit_policy("expected", scores, observed, q=np.zeros(observed.shape)).class_thresholds
    np.testing.assert_array_equal(expected, tuned)


def test_platt_recovers_a_known_calibration():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(20000, 2)) * 2
    true_a, true_b = np.array([0.5, 2.0]), np.array([-1.0, 0.5])
    labels = (rng.random(z.shape) < 1 / (1 + np.exp(-(true_a * z + true_b)))).astype(float)
    a, b = fit_platt(1 / (1 + np.exp(-z)), labels)
    np.testing.assert_allclose(a, true_a, atol=0.08)
    np.testing.assert_allclose(b, true_b, atol=0.08)


def test_shared_threshold_maximises_expected_micro_f1():
    _, scores, observed = _data(3)
    truth = soft_truth(observed, np.where(observed == 0, 0.2, 0.0))
    grid = np.arange(1, 100) / 100
    best = shared_threshold(scores, truth, grid=grid)
    known = ~np.isnan(truth)
    t, s = truth[known], scores[known]

    def micro(g):
        tp = (t * (s >= g)).sum()
        return 2 * tp / (2 * tp + ((1 - t) * (s >= g)).sum() + (t * (s < g)).sum())

    assert micro(best) == pytest.approx(max(micro(g) for g in grid), abs=1e-12)


def test_every_policy_gives_thresholds_evaluate_takes_and_round_trips():
    truth, scores, observed = _data(4)
    q = np.where(observed == 0, 0.25, 0.0)
    for policy in POLICIES:
        decision = fit_policy(policy, scores, observed, q=q, missing_share=0.5)
        thresholds = decision.thresholds(scores)
        assert thresholds.shape in ((6,), (300, 6)) and np.isfinite(thresholds).all()
        metrics = evaluate(truth, scores, threshold=thresholds)
        assert 0 <= metrics["micro_f1"] <= 1
        again = Decision.from_dict(json.loads(json.dumps(decision.to_dict())))
        np.testing.assert_array_equal(again.predict(scores), decision.predict(scores))


def test_cardinality_predicts_the_expected_number_of_labels_per_row():
    _, scores, observed = _data(5)
    decision = fit_policy("cardinality", scores, observed, q=np.where(observed == 0, 0.5, 0.0))
    predicted = decision.predict(scores)
    expected = np.clip(np.rint(decision.calibrate(scores).sum(axis=1)), 1, 6)
    np.testing.assert_array_equal(predicted.sum(axis=1), expected)


def test_with_an_exact_posterior_expected_f1_tunes_on_the_true_labels():
    """The policy reads the zeros through q: with q = 1 on the hidden positives and 0 on the true negatives it
    chooses exactly the thresholds that F1 on the complete labels would."""
    truth, scores, observed = _data(6, n=2000, hide=0.6)
    observed[0, 0] = truth[0, 0]
    exact = np.where((observed == 0) & (truth == 1), 1.0, 0.0)
    expected = fit_policy("expected", scores, observed, q=exact).class_thresholds
    np.testing.assert_array_equal(expected, tune_thresholds(truth, scores))


def test_posterior_reads_only_the_training_labels(monkeypatch):
    _, _, observed = _data(7)
    q = posterior(observed[:200], observed[200:])
    assert q.shape == (100, 6) and (q[observed[200:] != 0] == 0).all() and (q >= 0).all() and (q <= 1).all()
    changed = observed[200:].copy()
    changed[:, 1] = 1 - np.abs(changed[:, 1])  # the validation rows' own labels change only their own q rows
    assert not np.array_equal(posterior(observed[:200], changed), q)


def test_soft_policies_need_a_posterior_and_names_are_checked():
    _, scores, observed = _data(8)
    with pytest.raises(MLMLError, match="posterior"):
        fit_policy("calibrated", scores, observed)
    with pytest.raises(MLMLError, match="'policy'"):
        fit_policy("best", scores, observed)
