"""SMILE (Xu et al., NeurIPS 2022) against literal ports of palm-ml/smile: the classifier loss
(``train_smile2.py`` ``weighted_bce_loss``), the label-enhancement objective (``vae_loss``, ``beta_kl_loss``,
``loss_an``), the kNN graph (``gen_adj.py`` ``gen_adj_matrix_2``) and DGL's ``GraphConv(norm='both')``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlml.losses import LOSSES
from mlml.losses import functional as LF
from mlml.methods import METHODS
from mlml.weights import ESTIMATORS
from mlml.weights.smile import enhancement_objective, graph_conv_operator, knn_graph

F64 = torch.float64


def neg_log(x, eps=0.0):
    return -torch.log(x + eps)


def inputs(seed: int, n: int = 7, c: int = 5):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=F64) * 3.0
    z[1, 0], z[2, 1], z[3, 3], z[4, 2] = 30.0, -30.0, 30.0, -30.0
    y = torch.zeros(n, c, dtype=F64)
    y[torch.arange(n), torch.randint(0, c - 1, (n,), generator=g)] = 1.0  # the last column: no positive
    known = torch.ones(n, c, dtype=F64)
    known[0], y[0] = 0.0, 0.0  # an all-unknown row
    d = torch.rand(n, c, generator=g, dtype=F64)
    return z, y, known, d


def ref_weighted_bce_loss(logits, obs, weights, known, bias, rate, eps=0.0):
    """``train_smile2.py`` ``weighted_bce_loss(preds, obs, weights, bias, rate)`` (preds = σ(logits)); ``1 − preds``
    evaluated as σ(−z) (the same number without float64's cancellation at z = 30); unknown entries of ours (weight
    0) multiplied out, the mean kept over every entry."""
    preds = torch.sigmoid(logits)
    loss_mtx = weights * neg_log(preds, eps) + (1 - weights) * neg_log(torch.sigmoid(-logits), eps)
    zero = obs == 0.0
    scaled = loss_mtx / (obs.shape[-1] - 1) if bias else loss_mtx * rate
    loss_mtx = torch.where(zero, scaled, loss_mtx)
    return (loss_mtx * known).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("bias", "rate"), [(False, 0.1), (False, 0.5), (True, None)])
def test_enhanced_bce_is_the_authors_weighted_bce_loss(seed, bias, rate):
    z, y, known, d = inputs(seed)
    crit = LOSSES.create("smile", zero_weight="wan" if bias else rate).double()
    omega, omega_bar = d * known, (1 - d) * known
    a, b = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ours = crit(a, y, (omega, omega_bar), suspect=(y == 0) & (known > 0))
    theirs = ref_weighted_bce_loss(b, y, d, known, bias, rate)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.autograd.grad(ours, a)[0], torch.autograd.grad(theirs, b)[0], rtol=0, atol=1e-6)


def test_enhanced_bce_without_a_distribution_is_weighted_bce_with_weak_zeros():
    z, y, known, _ = inputs(3)
    plain = LF.weighted_bce(z, y, known, reduction="none")
    ours = LF.enhanced_bce(z, y, known, reduction="none", zero_weight=0.2)
    torch.testing.assert_close(ours, plain * (y + 0.2 * (1 - y)), rtol=0, atol=1e-12)


def ref_loss_an(preds, y_obs):
    loss_mtx = torch.zeros_like(y_obs)
    loss_mtx[y_obs == 1] = neg_log(preds[y_obs == 1], 1e-5)
    loss_mtx[y_obs == 0] = neg_log(1.0 - preds[y_obs == 0], 1e-5)
    return loss_mtx.mean()


def ref_beta_kl_loss(alpha, beta, prior_value, eps=1e-6):
    prior = torch.ones_like(alpha) * prior_value
    alpha = alpha + eps
    beta = beta + eps
    kl = (torch.lgamma(alpha) + torch.lgamma(beta)) + ((alpha - prior) * (torch.digamma(alpha))
                                                       + (beta - prior) * (torch.digamma(beta)))
    return kl.mean()


def ref_vae_loss(gamma, delta, batch_x, batch_y_obs, batch_d_score_1, batch_g_a, batch_x_rec, batch_y_rec,
                 batch_a_rec):
    loss_align_1 = ref_loss_an(batch_d_score_1, batch_y_obs)
    loss_recx = torch.nn.functional.mse_loss(batch_x_rec, batch_x.clone().detach())
    loss_recy = ref_loss_an(batch_y_rec, batch_y_obs)
    loss_reca = torch.nn.functional.mse_loss(batch_a_rec, batch_g_a.detach())
    loss_kl = ref_beta_kl_loss(batch_d_score_1, 1 - batch_d_score_1, 1)
    return loss_align_1 + gamma * (loss_recx + loss_recy + loss_reca) + delta * loss_kl


def test_enhancement_objective_is_the_authors_vae_loss():
    g = torch.Generator().manual_seed(0)
    n, c, d = 6, 4, 5
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = torch.zeros(n, c, dtype=F64)
    y[torch.arange(n), torch.randint(0, c, (n,), generator=g)] = 1.0
    d_score = torch.rand(n, c, generator=g, dtype=F64).clamp(0.01, 0.99)
    a_block = (torch.rand(n, n, generator=g) < 0.3).to(F64)
    x_rec = torch.randn(n, d, generator=g, dtype=F64)
    y_rec = torch.rand(n, c, generator=g, dtype=F64)
    a_rec = y_rec @ y_rec.T
    for gamma, delta in ((0.001, 1.0), (0.5, 0.3)):
        a, b = d_score.clone().requires_grad_(True), d_score.clone().requires_grad_(True)
        ours = enhancement_objective(x, y, a, a_block, x_rec, y_rec, a_rec, gamma=gamma, delta=delta)
        theirs = ref_vae_loss(gamma, delta, x, y, b, a_block, x_rec, y_rec, a_rec)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
        torch.testing.assert_close(torch.autograd.grad(ours, a)[0], torch.autograd.grad(theirs, b)[0], rtol=0,
                                   atol=1e-10)


def ref_gen_adj_matrix_2(X, k):
    """``gen_adj.py`` ``gen_adj_matrix_2``'s dense adjacency (Euclidean distances, k argmin passes)."""
    dm = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    adj_m = np.zeros_like(dm)
    row = np.arange(0, X.shape[0])
    dm[row, row] = np.inf
    for _ in range(0, k):
        col = np.argmin(dm, axis=1)
        dm[row, col] = np.inf
        adj_m[row, col] = 1.0
    return adj_m


def ref_graph_conv_both(adj_m, h):
    """DGL ``GraphConv(norm='both')`` message passing on ``dgl.graph((row, col))`` of ``adj_m``'s edges, without
    weight and bias: ``h'_j = Σ_{i -> j} h_i / sqrt(out_deg(i) in_deg(j))``, degrees clamped at 1."""
    out_deg = np.maximum(adj_m.sum(1), 1)
    in_deg = np.maximum(adj_m.sum(0), 1)
    out = np.zeros_like(h)
    for i, j in zip(*np.nonzero(adj_m), strict=True):
        out[j] += h[i] / np.sqrt(out_deg[i] * in_deg[j])
    return out


def test_knn_graph_and_graph_convolution_are_the_authors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    adjacency = knn_graph(x, 3)
    np.testing.assert_array_equal(adjacency.toarray(), ref_gen_adj_matrix_2(x, 3))
    dense = adjacency.toarray()
    dense[:, 5] = 0.0  # a node nobody points to: in-degree 0 (DGL's allow_zero_in_degree)
    h = rng.normal(size=(30, 6))
    np.testing.assert_allclose(graph_conv_operator(dense) @ h, ref_graph_conv_both(dense, h), rtol=0, atol=1e-12)


def test_smile_estimator_is_reproducible_and_mixes_its_distribution_with_the_observed_labels():
    rng = np.random.default_rng(1)
    n, c = 60, 4
    x = rng.normal(size=(n, 6))
    observed = np.zeros((n, c), dtype=np.int8)
    observed[np.arange(n), rng.integers(0, c, n)] = 1
    observed[0, 1] = -1
    est = ESTIMATORS.create("smile", epochs=2).fit(observed, features=x)
    pos, neg = est.transform(observed, rows=np.arange(n), features=x)
    again = ESTIMATORS.create("smile", epochs=2).fit(observed, features=x)
    np.testing.assert_array_equal(pos, again.transform(observed, rows=np.arange(n), features=x)[0])
    d = 0.5 * est.d1_ + 0.5 * np.where(observed == 1, 1.0, 0.05)
    known = observed != -1
    np.testing.assert_allclose(pos[known], d[known], rtol=0, atol=1e-12)
    np.testing.assert_allclose(neg[known], 1 - d[known], rtol=0, atol=1e-12)
    assert pos[0, 1] == 0 and neg[0, 1] == 0  # unknown
    assert ((est.d1_ > 0) & (est.d1_ < 1)).all()
    new_pos, _ = est.transform(observed[:5], features=x[:5])  # new rows: the observed labels only (D2)
    np.testing.assert_allclose(new_pos[known[:5]], np.where(observed[:5] == 1, 1.0, 0.05)[known[:5]])


def test_smile_method_pairs_its_loss_and_estimator():
    method = METHODS.get("smile")
    assert (method.loss, method.estimator) == ("smile", "smile")
    assert LOSSES.get("smile").needs_pair and ESTIMATORS.get("smile").uses_features
