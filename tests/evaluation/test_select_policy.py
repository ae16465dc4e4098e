"""The ``select`` policy: the base policy of highest cross-fitted micro-F1 estimated from observed labels and the
diagnosed missing share (:func:`mlml.evaluation.policies.select_decision`)."""

import json

import numpy as np
import pytest

from mlml.evaluation.policies import BASE_POLICIES, SELECT_CONFIDENCE, Decision, fit_policies, fit_policy
from mlml.exceptions import MLMLError


def _data(seed=0, n=400, c=5, hide=0.6):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, c)) < 0.3).astype(np.int8)
    scores = np.clip(0.55 * truth * rng.random((n, c)) + 0.45 * rng.random((n, c)), 0.001, 0.999)
    observed = np.where((truth == 1) & (rng.random((n, c)) < hide), 0, truth).astype(np.int8)
    observed[1, 1] = -1  # unannotated entries are neither predicted nor counted
    return truth, scores, observed, np.where(observed == 0, 0.3, 0.0)


def _by_hand(scores, observed, q, share):
    """The criterion written out: halves of the seeded permutation, each policy fitted on one and counted on the
    other, micro-F1 estimated as 2 TP_o / (c P + Pos_o) with c = 1 - share."""
    order = np.random.default_rng(0).permutation(len(observed))
    halves = [order[: len(order) // 2], order[len(order) // 2 :]]
    tp, predicted, positives = ({p: 0 for p in BASE_POLICIES} for _ in range(3))
    for a, b in (halves, halves[::-1]):
        for p, d in fit_policies(BASE_POLICIES, scores[a], observed[a], q=q[a]).items():
            chosen = (scores[b] >= d.thresholds(scores[b])) & (observed[b] != -1)
            tp[p] += int((chosen & (observed[b] == 1)).sum())
            predicted[p] += int(chosen.sum())
            positives[p] += int((observed[b] == 1).sum())
    c = 1 - share
    return {p: 2 * tp[p] / (c * predicted[p] + positives[p]) for p in BASE_POLICIES}


@pytest.mark.parametrize("share", [0.0, 0.6])
def test_select_keeps_the_best_policy_by_the_corrected_criterion_refitted_on_every_row(share):
    _, scores, observed, q = _data()
    decision = fit_policy("select", scores, observed, q=q, missing_share=share)
    expected = _by_hand(scores, observed, q, share)
    info = decision.info["select"]
    assert info["missing_share"] == share
    assert info["criterion"] == pytest.approx(expected, abs=1e-12)
    best = max(BASE_POLICIES, key=lambda p: (expected[p], -BASE_POLICIES.index(p)))
    assert info["best"] == best and 0.0 <= info["lead"] <= 1.0
    chosen = best if info["lead"] >= SELECT_CONFIDENCE else "fixed"  # the winner leaves 0.5 only with a clear lead
    assert decision.policy == chosen
    refitted = fit_policy(chosen, scores, observed, q=q)
    np.testing.assert_array_equal(decision.predict(scores), refitted.predict(scores))
    again = Decision.from_dict(json.loads(json.dumps(decision.to_dict())))  # model.json round trip
    np.testing.assert_array_equal(again.predict(scores), decision.predict(scores))


def test_a_larger_missing_share_never_lowers_the_number_of_labels_the_winner_predicts():
    """The correction discounts predicted positives by c: deciding more costs less the more labels are missing
    (for two policies, the one predicting more wins for every c below a cut-off), so the winning policy predicts
    (weakly) more labels as the share grows."""
    _, scores, observed, q = _data(seed=2, hide=0.5)
    best, counts = [], []
    for share in (0.0, 0.35, 0.9):
        info = fit_policy("select", scores, observed, q=q, missing_share=share).info["select"]
        best.append(info["best"])
        counts.append(int(fit_policy(info["best"], scores, observed, q=q).predict(scores).sum()))
    assert counts == sorted(counts) and len(set(best)) == 3


def test_a_lead_within_the_noise_of_few_rows_keeps_one_half():
    """The same model and labels: on 400 rows tuned leads clearly (share 0.5); on 40 of them the winner leads in
    fewer than 90 % of the bootstrap replicates, and select keeps 0.5."""
    _, scores, observed, q = _data(seed=3, hide=0.5)
    many = fit_policy("select", scores, observed, q=q, missing_share=0.5)
    assert many.policy == many.info["select"]["best"] == "tuned" and many.info["select"]["lead"] >= SELECT_CONFIDENCE
    few = fit_policy("select", scores[:40], observed[:40], q=q[:40], missing_share=0.5)
    assert few.info["select"]["best"] != "fixed" and few.info["select"]["lead"] < SELECT_CONFIDENCE
    assert few.policy == "fixed"


def test_without_a_diagnosable_share_select_decides_by_pu_and_says_why():
    _, scores, observed, q = _data()
    decision = fit_policy("select", scores, observed, q=q, missing_share=float("nan"))
    assert decision.policy == "pu" and decision.info["select"]["reason"].startswith("the missing share")
    np.testing.assert_array_equal(decision.predict(scores), fit_policy("pu", scores, observed).predict(scores))


def test_select_needs_the_share_and_the_posterior():
    _, scores, observed, q = _data()
    with pytest.raises(MLMLError, match="missing_share"):
        fit_policy("select", scores, observed, q=q)
    with pytest.raises(MLMLError, match="posterior"):
        fit_policy("select", scores, observed, missing_share=0.5)
