"""Ranking metrics (P@k, nDCG@k, PSP@k, PSnDCG@k) and Jain et al.'s propensities: hand-computed values and a slow,
literal implementation of the definitions (pyxclib's normalisation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.evaluation import evaluate
from mlml.evaluation.ranking import ranking_keys, ranking_metrics_dense, ranking_metrics_topk, top_k
from mlml.exceptions import MLMLError
from mlml.propensity import inverse_propensity, label_propensity, propensity


def _literal(scores, truth, inv, ks):
    """Row by row, straight from the definitions: full sort (ties by index), sums, then the normalisations."""
    n, n_labels = truth.shape
    out = {}
    for k in ks:
        p = nd = 0.0
        ps_num = ps_den = psn_num = psn_den = 0.0
        for i in range(n):
            ranked = sorted(range(n_labels), key=lambda c: (-scores[i, c], c))[:k]
            positives = [c for c in range(n_labels) if truth[i, c] == 1]
            p += sum(truth[i, c] == 1 for c in ranked) / k
            dcg = sum((truth[i, c] == 1) / math.log2(j + 2) for j, c in enumerate(ranked))
            idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(positives))))
            nd += dcg / idcg if idcg else 0.0
            best = sorted((inv[c] for c in positives), reverse=True)[:k]
            ps_num += sum(inv[c] for c in ranked if truth[i, c] == 1)
            ps_den += sum(best)
            if idcg:
                psn_num += sum(inv[c] * (truth[i, c] == 1) / math.log2(j + 2) for j, c in enumerate(ranked)) / idcg
                psn_den += sum(w / math.log2(j + 2) for j, w in enumerate(best)) / idcg
        out[f"p_at_{k}"] = p / n
        out[f"ndcg_at_{k}"] = nd / n
        out[f"psp_at_{k}"] = ps_num / ps_den
        out[f"psndcg_at_{k}"] = psn_num / psn_den
    return out


def test_propensity_formula_by_hand():
    # N = 100, A = 0.55, B = 1.5: C = (ln 100 - 1) * 2.5^0.55
    c = (math.log(100) - 1) * 2.5**0.55
    expected = [1 / (1 + c * (n + 1.5) ** -0.55) for n in (0, 4, 50)]
    np.testing.assert_allclose(propensity(np.array([0, 4, 50]), 100), expected, rtol=1e-12)
    # e^{-A log(N_l + B)} is the same thing written as in the issue
    np.testing.assert_allclose(inverse_propensity(np.array([7]), 100, a=0.6, b=2.6),
                               [1 + (math.log(100) - 1) * 3.6**0.6 * math.exp(-0.6 * math.log(9.6))])
    labels = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 0]], dtype=np.int8))
    np.testing.assert_allclose(label_propensity(labels), propensity(np.array([2, 1]), 3))
    with pytest.raises(MLMLError, match="'a' parameter"):
        propensity(np.array([1]), 10, a=-1)


def test_top_k_orders_by_score_then_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.2], [0.3, 0.3, 0.3, 0.3, 0.3]])
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]
    assert top_k(scores, 9).tolist() == [[1, 3, 2, 4, 0], [0, 1, 2, 3, 4]]
    scored = np.ones_like(scores, dtype=bool)
    scored[0, 1] = False
    assert top_k(scores, 2, scored=scored)[0].tolist() == [3, 2]


def test_hand_computed_values():
    # two rows, four labels; row 0 positives {0, 2}, row 1 positive {3}
    truth = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=np.int8)
    top = np.array([[2, 1, 0], [0, 3, 1]])
    inv = np.array([1.0, 2.0, 4.0, 8.0])
    got = ranking_metrics_topk(top, sp.csr_matrix(truth), ks=(1, 3), propensity=1 / inv)
    assert got["p_at_1"] == pytest.approx((1 + 0) / 2)
    assert got["p_at_3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    d2, d3 = 1 / math.log2(3), 1 / math.log2(4)
    assert got["ndcg_at_1"] == pytest.approx(0.5)
    assert got["ndcg_at_3"] == pytest.approx(((1 + d3) / (1 + d2) + d2 / 1) / 2)
    # PSP@1: hits weigh 4 (row 0) + 0; the best: 4 (row 0) + 8 (row 1)
    assert got["psp_at_1"] == pytest.approx(4 / 12)
    assert got["psp_at_3"] == pytest.approx((4 + 1 + 8) / (4 + 1 + 8))
    num = (4 + 1 * d3) / (1 + d2) + (8 * d2) / 1
    den = (4 + 1 * d2) / (1 + d2) + 8 / 1
    assert got["psndcg_at_3"] == pytest.approx(num / den)
    assert list(got) == list(ranking_keys((1, 3)))


@pytest.mark.parametrize("seed", [0, 1])
def test_against_literal_implementation(seed):
    rng = np.random.default_rng(seed)
    n, n_labels = 40, 12
    truth = (rng.random((n, n_labels)) < 0.2).astype(np.int8)
    truth[3] = 0  # a row without positives
    scores = rng.integers(0, 6, size=(n, n_labels)) / 5.0  # many ties
    train = (rng.random((200, n_labels)) < 0.25).astype(np.int8)
    p = label_propensity(train)
    got = ranking_metrics_dense(sp.csr_matrix(truth), scores, ks=(1, 3, 5), propensity=p, batch_rows=7)
    want = _literal(scores, truth, 1 / p, (1, 3, 5))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_bad_inputs_are_refused():
    truth = sp.csr_matrix(np.eye(3, dtype=np.int8))
    with pytest.raises(MLMLError, match="needs 3"):
        ranking_metrics_topk(np.zeros((3, 1), dtype=int), truth, ks=(3,))
    with pytest.raises(MLMLError, match="outside"):
        ranking_metrics_topk(np.full((3, 1), 5), truth, ks=(1,))
    with pytest.raises(MLMLError, match="propensity"):
        ranking_metrics_topk(np.zeros((3, 1), dtype=int), truth, ks=(1,), propensity=np.array([0.5, 2.0, 1.0]))


def test_evaluate_reports_ranking_keys_with_given_propensities():
    rng = np.random.default_rng(3)
    y = (rng.random((30, 6)) < 0.3).astype(np.int8)
    y[0, 0], y[1, 0] = 1, 0
    scores = rng.random((30, 6))
    p = propensity(np.array([10, 3, 3, 1, 0, 20]), 50)
    out = evaluate(y, scores, propensity=p)
    want = _literal(scores, y, 1 / p, (1, 3, 5))
    for key in ranking_keys():
        assert out[key] == pytest.approx(want[key], rel=1e-12), key
    own = evaluate(y, scores)  # from the evaluated labels themselves
    assert own["psp_at_1"] == pytest.approx(_literal(scores, y, 1 / label_propensity(y), (1,))["psp_at_1"])
