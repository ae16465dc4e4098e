"""The feature-aware (``knn``) and model-aware (``pu-adaptive``) estimators and their methods."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from mlml.exceptions import MLMLError
from mlml.losses import LOSSES
from mlml.losses.functional import asymmetric, soft_asl, soft_bce
from mlml.methods import METHODS
from mlml.simulate import hide_positives
from mlml.weights import ESTIMATORS
from mlml.weights.adaptive import PUAdaptive, label_frequency, pu_posterior
from mlml.weights.neighbors import NeighbourCooccurrence


def _toy(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with structure and labels that depend on them (three overlapping classes)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0.3, x[:, 0] + x[:, 1] > 0.5], axis=1).astype(np.int8)
    return x, y


# -- knn
def test_knn_contract_shapes_ranges_and_fixed_entries():
    x, y = _toy()
    y[3, 1] = -1
    pos, neg = NeighbourCooccurrence(n_neighbors=7).fit(y, features=x).transform(y, features=x)
    assert pos.shape == neg.shape == y.shape and pos.dtype == neg.dtype == np.float64
    assert ((neg >= 0) & (neg <= 1)).all()
    assert (neg[y == 1] == 0).all() and (pos[y >= 0] == 1).all()
    assert pos[3, 1] == neg[3, 1] == 0
    assert neg[y == 0].std() > 0  # the weights vary with the evidence


def test_knn_matches_a_literal_implementation():
    """Vote (leave-one-out on the training rows) and Bayes combination, written out row by row."""
    x, y = _toy(60, seed=1)
    k, eps, alpha = 5, 0.1, 1.0
    est = NeighbourCooccurrence(n_neighbors=k, metric="euclidean", prior_smoothing=eps, vote_smoothing=alpha)
    _, neg = est.fit_transform(y, features=x)
    z = (x - x.mean(0)) / x.std(0)
    _, prior_neg = ESTIMATORS.create("pairwise-noisy-or").fit_transform(y)
    rate = (y.sum(0) + 1.0) / (len(y) + 2.0)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    for i in range(len(y)):
        dist = np.linalg.norm(z - z[i], axis=1)
        dist[i] = np.inf
        near = np.argsort(dist, kind="stable")[:k]
        for c in range(y.shape[1]):
            if y[i, c] == 1:
                continue
            g = (y[near, c].sum() + alpha * rate[c]) / (k + alpha)
            q_prior = (1 - eps) * (1 - prior_neg[i, c]) + eps * rate[c]
            q = 1 / (1 + np.exp(-(logit(q_prior) + logit(g) - logit(rate[c]))))
            assert neg[i, c] == pytest.approx(1 - q, abs=1e-6)


def test_knn_uses_only_training_rows():
    """Other rows never change the training weights, and a training row never votes for itself."""
    x, y = _toy(100, seed=2)
    train, test = np.arange(70), np.arange(70, 100)
    est = NeighbourCooccurrence(n_neighbors=5).fit(y[train], features=x[train])
    before = est.transform(y[train], rows=train, features=x[train])[1]
    est.transform(y[test], features=x[test])
    est.transform(y[test][::-1], features=x[test][::-1] + 1.0)
    refit = NeighbourCooccurrence(n_neighbors=5).fit(y[train], features=x[train])
    np.testing.assert_array_equal(est.transform(y[train], rows=train, features=x[train])[1], before)
    np.testing.assert_array_equal(refit.transform(y[train], rows=train, features=x[train])[1], before)
    # a row far from everything carrying a label nobody else has: its own label must not vote for it
    x2, y2 = x[train].copy(), np.zeros((70, 2), dtype=np.int8)
    y2[:, 0] = 1
    y2[0, 1] = 1
    x2[0] += 50.0
    est2 = NeighbourCooccurrence(n_neighbors=3, vote_smoothing=1.0).fit(y2, features=x2)
    vote = est2.evidence(y2, features=x2, rows=np.arange(70))["vote"]
    rate = (1 + 1.0) / (70 + 2.0)
    assert vote[0, 1] == pytest.approx(rate / 4)  # three neighbours without it, one pseudo-neighbour


def test_knn_sparse_features_and_errors():
    x, y = _toy(80, seed=3)
    xs = sp.csr_matrix(np.maximum(x, 0))
    pos, neg = NeighbourCooccurrence(n_neighbors=5).fit_transform(y, features=xs)
    assert neg.shape == y.shape and np.isfinite(neg).all()
    with pytest.raises(MLMLError, match="features"):
        NeighbourCooccurrence().fit(y)
    with pytest.raises(MLMLError, match="rows"):
        NeighbourCooccurrence().fit(y, features=x[:10])
    with pytest.raises(MLMLError, match="metric"):
        NeighbourCooccurrence(metric="manhattan").fit(y, features=x)
    with pytest.raises(MLMLError, match="prior"):
        NeighbourCooccurrence(prior="knn").fit(y, features=x)


def test_knn_detects_hidden_positives_where_labels_alone_cannot(mulan_dir):
    """emotions (cardinality ~1.9): at r = 0.5 most co-occurrences are hidden; features still find them."""
    from mlml.data import load

    ds = load(f"mulan:{mulan_dir / 'emotions'}")
    labels = ds.labels.toarray() if sp.issparse(ds.labels) else np.asarray(ds.labels)
    observed, hidden = hide_positives(labels, 0.5, random_state=0)
    observed, hidden = np.asarray(observed), np.asarray(hidden).astype(bool)
    zero = observed == 0
    prior_neg = ESTIMATORS.create("pairwise-noisy-or").fit_transform(observed)[1]
    knn_neg = NeighbourCooccurrence().fit_transform(observed, features=ds.features)[1]
    prior_auc = roc_auc_score(hidden[zero], 1 - prior_neg[zero])
    knn_auc = roc_auc_score(hidden[zero], 1 - knn_neg[zero])
    assert knn_auc > prior_auc + 0.1 and knn_auc > 0.7


# -- pu-adaptive
def test_pu_formulas():
    p = np.array([[0.9, 0.2], [0.5, 0.1], [0.2, 0.6]])
    positive = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    c = label_frequency(p, positive)
    overall = (0.9 + 0.5 + 0.6) / 3
    assert c[0] == pytest.approx((1.4 + 10 * overall) / 12)
    assert c[1] == pytest.approx((0.6 + 10 * overall) / 11)
    q = pu_posterior(np.array([[0.2]]), np.array([0.5]))
    assert q[0, 0] == pytest.approx(0.25)  # (1 - c)/c * p/(1 - p) = 1 * 0.25
    assert pu_posterior(np.array([[0.99]]), np.array([0.5]))[0, 0] == 1.0


def test_pu_adaptive_warmup_bounded_steps_and_positives():
    x, y = _toy(150, seed=4)
    y[5, 0] = -1
    est = PUAdaptive(momentum=1.0, max_step=0.05, warmup=2, model_weight=1.0).fit(y)
    fitted = np.arange(150)
    start = est.transform(y, rows=fitted)[1]
    high = np.full(y.shape, 0.8)
    for _ in range(2):
        est.update(high)
    np.testing.assert_array_equal(est.transform(y, rows=fitted)[1], start)  # warm-up: ignored
    previous = start
    for _ in range(3):
        est.update(high)
        pos, neg = est.transform(y, rows=fitted)
        assert np.abs(neg - previous).max() <= 0.05 + 1e-12
        assert (neg[y == 1] == 0).all() and (pos[y >= 0] == 1).all()
        assert pos[5, 0] == neg[5, 0] == 0
        previous = neg
    assert est.n_updates_ == 5 and est.n_applied_ == 3
    # the model says every zero is likely positive: weights of zeros can only go down
    assert (previous[y == 0] <= start[y == 0] + 1e-12).all() and (previous[y == 0] < start[y == 0]).any()


def test_pu_adaptive_anchored_to_prior_and_index_subsets():
    x, y = _toy(90, seed=5)
    est = PUAdaptive(momentum=1.0, max_step=1.0, model_weight=0.5).fit(y)
    prior_q = est.prior_.copy()
    est.update(np.zeros(y.shape))  # the model says nothing is missing: q = (1 - λ) q⁰
    np.testing.assert_allclose(est.state_, 0.5 * prior_q)
    est2 = PUAdaptive(momentum=1.0, max_step=1.0).fit(y)
    rows = np.array([3, 10, 40])
    est2.update(np.zeros((3, y.shape[1])), rows=rows)
    changed = np.flatnonzero((est2.state_ != est2.prior_).any(axis=1))
    assert changed.size and set(changed) <= set(rows)  # the update reached the indexed rows, and only them
    # rows other than the fitted ones get the base estimator's weights
    other = y[:20].copy()
    base = ESTIMATORS.create("pairwise-noisy-or").fit(y).transform(other)[1]
    np.testing.assert_allclose(est.transform(other)[1], base)
    with pytest.raises(MLMLError, match="rows"):
        est.update(np.zeros((3, y.shape[1])))
    with pytest.raises(MLMLError, match="probabilities"):
        est.update(np.full(y.shape, 1.5))


def test_knn_pu_adaptive_uses_features():
    x, y = _toy(80, seed=6)
    est = ESTIMATORS.create("knn-pu-adaptive", base_params={"n_neighbors": 5})
    assert est.uses_features and est.adaptive
    pos, neg = est.fit_transform(y, features=x)
    knn_neg = NeighbourCooccurrence(n_neighbors=5).fit_transform(y, features=x)[1]
    np.testing.assert_allclose(neg, knn_neg)
    with pytest.raises(MLMLError, match="labels-only base"):
        PUAdaptive(base="knn").fit(y, features=x)


def test_methods_registered_and_trainable():
    """The trainer fits them, calls update after the warm-up and the weights change."""
    from mlml.training import TrainConfig, fit

    for name in ("knn-cb-wce", "pu-wce", "knn-pu-wce"):
        assert name in METHODS and METHODS.get(name).loss == "weighted-bce"
    assert METHODS.get("knn-pu-em").loss == "soft-bce"
    em = METHODS.get("knn-pu-em").make_estimator()
    assert em.pseudo_positive == 1.0 and em.model_weight == 0.25
    x, y = _toy(200, seed=7)
    observed, _ = hide_positives(y, 0.5, random_state=0)
    config = TrainConfig(epochs=4, batch_size=64, val_fraction=0.0, fixed_epochs=True, device="cpu",
                         log=False, adaptive_warmup_epochs=1)
    est = ESTIMATORS.create("knn-pu-adaptive", base_params={"n_neighbors": 5})
    result = fit(x, observed, METHODS.get("knn-pu-wce"), config, estimator=est.fit(observed, features=x))
    assert est.n_applied_ >= 3
    assert not np.array_equal(est.state_, est.prior_)
    assert result.predict_proba(x).shape == y.shape


def _short_training():
    """A toy set with half its positives hidden and three epochs of a linear head: ``(x, y, observed, config)``."""
    from mlml.training import TrainConfig

    x, y = _toy(200, seed=8)
    observed, _ = hide_positives(y, 0.5, random_state=1)
    config = TrainConfig(epochs=3, batch_size=64, val_fraction=0.0, fixed_epochs=True, device="cpu",
                         log=False, head="linear")
    return x, y, observed, config


def test_em_trains_on_the_soft_pseudo_labels():
    """knn-pu-em: the estimator's ω on observed zeros reaches the loss and changes the model."""
    from mlml.training import fit

    x, y, observed, config = _short_training()
    probas = {}
    for name in ("knn-pu-wce", "knn-pu-em"):
        result = fit(x, observed, METHODS.get(name), config)
        probas[name] = result.predict_proba(x)
        if name == "knn-pu-em":
            pos, neg = result.estimator.transform(observed, rows=np.arange(len(observed)), features=x)
            zero = observed == 0
            np.testing.assert_allclose(pos[zero], 1.0 - neg[zero])  # β = 1: target q, weight 1
    # the pseudo-positive terms raise the scores of the observed zeros
    zero = observed == 0
    assert probas["knn-pu-em"][zero].mean() > probas["knn-pu-wce"][zero].mean()


# -- pseudo-positives and the soft-target loss
def test_pu_adaptive_pseudo_positive_weights():
    x, y = _toy(100, seed=9)
    y[2, 1] = -1
    plain = PUAdaptive().fit(y)
    soft = PUAdaptive(pseudo_positive=0.5).fit(y)
    for est in (plain, soft):
        est.update(np.full(y.shape, 0.3))
    pos0, neg0 = plain.transform(y, rows=np.arange(100))
    pos, neg = soft.transform(y, rows=np.arange(100))
    np.testing.assert_array_equal(neg, neg0)  # ω̄ does not depend on β
    assert (pos0[y >= 0] == 1).all()
    zero = y == 0
    np.testing.assert_allclose(pos[zero], 0.5 * soft.state_[zero])
    assert (pos[y == 1] == 1).all() and pos[2, 1] == neg[2, 1] == 0
    with pytest.raises(MLMLError, match="pseudo_positive"):
        PUAdaptive(pseudo_positive=1.5).fit(y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_bce_literal_and_soft_target_reference(reduction):
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(7, 4, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
    y = (torch.rand(7, 4, generator=g) < 0.4).double()
    q = torch.rand(7, 4, generator=g, dtype=torch.float64)
    pos, neg = torch.where(y == 1, 1.0, q), torch.where(y == 1, 0.0, 1.0 - q)
    ours = soft_bce(z, y, (pos, neg), reduction=reduction)
    p = torch.sigmoid(z)
    literal = -(pos * torch.log(p) + neg * (1 - y) * torch.log(1 - p))
    reduced = {"mean": literal.mean(), "sum": literal.sum(), "none": literal}[reduction]
    torch.testing.assert_close(ours, reduced)
    # ω = q, ω̄ = 1 − q on zeros: BCE against the soft target max(y, q)
    soft_target = torch.where(y == 1, 1.0, q)
    ref = F.binary_cross_entropy_with_logits(z, soft_target, reduction=reduction)
    torch.testing.assert_close(ours, ref)
    # no weights: plain BCE; the criterion's known mask zeroes unknown entries
    torch.testing.assert_close(soft_bce(z, y, reduction=reduction),
                               F.binary_cross_entropy_with_logits(z, y, reduction=reduction))
    known = torch.rand(7, 4, generator=g) < 0.7
    crit = LOSSES.create("soft-bce", reduction="none")
    (grad,) = torch.autograd.grad(crit(z, y, known=known).sum(), z)
    assert torch.all(grad[~known] == 0) and torch.all(grad[known] != 0)
    with pytest.raises(MLMLError, match="reduction"):
        soft_bce(z, y, reduction="avg")


# -- soft pseudo-labels with ASL focusing (knn-pu-asl)
def _soft_batch(seed: int, n: int = 7, c: int = 4, scale: float = 3.0):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).requires_grad_(True)
    y = (torch.rand(n, c, generator=g) < 0.4).double()
    q = torch.rand(n, c, generator=g, dtype=torch.float64)
    return z, y, torch.where(y == 1, 1.0, q), torch.where(y == 1, 0.0, 1.0 - q)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("params", [{}, {"gamma_pos": 1.0, "gamma_neg": 2.0, "margin": 0.2},
                                    {"gamma_pos": 0.5, "gamma_neg": 3.0, "margin": 0.0}])
def test_soft_asl_matches_the_literal_formula(reduction, params):
    z, y, pos, neg = _soft_batch(10)
    gp, gn, m = params.get("gamma_pos", 0.0), params.get("gamma_neg", 4.0), params.get("margin", 0.05)
    p = torch.sigmoid(z)
    pm = torch.clamp(p - m, min=0.0)
    literal = -(pos * (1 - p) ** gp * torch.log(p) + neg * (1 - y) * pm**gn * torch.log(1 - pm))
    reduced = {"mean": literal.mean(), "sum": literal.sum(), "none": literal}[reduction]
    ours = soft_asl(z, y, (pos, neg), reduction=reduction, **params)
    torch.testing.assert_close(ours, reduced)
    crit = LOSSES.create("soft-asl", reduction=reduction, **params)
    torch.testing.assert_close(crit(z, y, (pos, neg)), reduced)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_asl_with_indicator_weights_is_asl(reduction):
    z, y, _, _ = _soft_batch(11)
    ref = asymmetric(z, y, reduction=reduction)
    torch.testing.assert_close(soft_asl(z, y, (y, 1.0 - y), reduction=reduction), ref)
    torch.testing.assert_close(soft_asl(z, y, reduction=reduction), ref)
    # ... and with focusing detached: same values, ASL's gradient
    z2 = z.detach().clone().requires_grad_(True)
    (ours,) = torch.autograd.grad(soft_asl(z, y, detach_focusing=True), z)
    (theirs,) = torch.autograd.grad(asymmetric(z2, y, detach_focusing=True), z2)
    torch.testing.assert_close(ours, theirs)
    # the criterion's known mask gives what the asl criterion gives
    known = torch.rand(y.shape, generator=torch.Generator().manual_seed(1)) < 0.7
    torch.testing.assert_close(LOSSES.create("soft-asl", reduction=reduction)(z, y, known=known),
                               LOSSES.create("asl", reduction=reduction)(z, y, known=known))


def test_soft_asl_gradcheck_float64():
    z, y, pos, neg = _soft_batch(12, n=5, c=3, scale=2.0)
    # the differentiated variant: the default detaches the focusing factors (its gradient is not the value's)
    for params in ({}, {"gamma_pos": 1.0, "gamma_neg": 2.0, "margin": 0.0}):
        assert torch.autograd.gradcheck(lambda x: soft_asl(x, y, (pos, neg), detach_focusing=False, **params), (z,))


@pytest.mark.parametrize("value", [100.0, -100.0])
def test_soft_asl_finite_at_extreme_logits_and_zero_weight_zero_gradient(value):
    _, y, pos, neg = _soft_batch(13)
    z = torch.full(y.shape, value, dtype=torch.float32)
    z[:, ::2] = -value
    z.requires_grad_(True)
    y, pos, neg = y.float(), pos.float(), neg.float()
    dropped = torch.rand(y.shape, generator=torch.Generator().manual_seed(2)) < 0.4
    pos, neg = pos.masked_fill(dropped, 0.0), neg.masked_fill(dropped, 0.0)
    for weights in (None, (pos, neg)):
        loss = soft_asl(z, y, weights)
        (grad,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    (grad,) = torch.autograd.grad(soft_asl(z, y, (pos, neg)), z)
    assert dropped.any() and torch.all(grad[dropped] == 0)


def test_soft_asl_errors_name_the_parameter():
    z, y, pos, neg = _soft_batch(14)
    with pytest.raises(MLMLError, match="reduction"):
        soft_asl(z, y, reduction="avg")
    with pytest.raises(MLMLError, match="gamma_neg"):
        LOSSES.create("soft-asl", gamma_neg=-1.0)
    with pytest.raises(MLMLError, match="margin"):
        soft_asl(z, y, (pos, neg), margin=1.5)


def test_knn_pu_asl_is_knn_pu_em_with_asl_and_trains():
    """Same estimator and parameters as knn-pu-em, the asl criterion's defaults; the estimator's weights reach
    the loss in training (soft pseudo-positives raise the observed zeros' scores over plain ASL's)."""
    from mlml.training import fit

    asl, em = METHODS.get("knn-pu-asl"), METHODS.get("knn-pu-em")
    assert asl.loss == "soft-asl" and not asl.loss_kwargs
    assert (asl.estimator, asl.estimator_kwargs) == (em.estimator, em.estimator_kwargs)
    ours, theirs = LOSSES.create("soft-asl"), LOSSES.create("asl")
    assert (ours.gamma_pos, ours.gamma_neg, ours.margin, ours.detach_focusing) == (
        theirs.gamma_pos, theirs.gamma_neg, theirs.margin, theirs.detach_focusing)
    x, y, observed, config = _short_training()
    probas = {}
    for name in ("asl", "knn-pu-asl"):
        probas[name] = fit(x, observed, METHODS.get(name), config).predict_proba(x)
        assert probas[name].shape == y.shape and np.isfinite(probas[name]).all()
    zero = observed == 0
    assert probas["knn-pu-asl"][zero].mean() > probas["asl"][zero].mean()


# -- weak zeros (knn-pu-em-balanced)
def test_weak_soft_bce_literal_gamma_and_calibrated_minimiser():
    z, y, pos, neg = _soft_batch(11)
    observed = y.numpy().astype(np.int8)
    k = observed.sum(axis=1).mean()
    for zero_weight, gamma in (("balanced", k / (4 - k)), ("wan", 1 / 3), (0.2, 0.2)):
        crit = LOSSES.create("weak-soft-bce", zero_weight=zero_weight, reduction="none")
        crit.setup(observed)
        assert crit.gamma_ == pytest.approx(gamma)
        p = torch.sigmoid(z)
        literal = -(pos * torch.log(p) + neg * (1 - y) * torch.log(1 - p)) * torch.where(y == 1, 1.0, gamma)
        torch.testing.assert_close(crit(z, y, (pos, neg)), literal)
    # every term of a zero is scaled, so its minimiser stays the soft target: zero gradient at σ(z) = q
    q = 1.0 - neg
    at_q = torch.logit(torch.where(y == 1, 0.5, q)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(crit(at_q, y, (pos, neg)).sum(), at_q)
    torch.testing.assert_close(grad[y == 0], torch.zeros_like(grad[y == 0]))


def test_weak_soft_bce_errors_and_method():
    with pytest.raises(MLMLError, match="zero_weight"):
        LOSSES.create("weak-soft-bce", zero_weight="strong")
    with pytest.raises(MLMLError, match="zero_weight"):
        LOSSES.create("weak-soft-bce", zero_weight=0.0)
    z, y, pos, neg = _soft_batch(12)
    with pytest.raises(MLMLError, match="setup"):
        LOSSES.create("weak-soft-bce")(z, y, (pos, neg))
    method = METHODS.get("knn-pu-em-balanced")
    assert method.loss == "weak-soft-bce"
    assert method.make_estimator().get_params()["pseudo_positive"] == 1.0


def test_knn_prior_must_be_labels_only():
    x, y = _toy(40, seed=3)
    for prior in ("knn", "ignore-missing", "pu-adaptive"):  # features, the hidden mask, a model
        with pytest.raises(MLMLError, match="'prior' parameter of NeighbourCooccurrence must name a labels-only"):
            NeighbourCooccurrence(prior=prior).fit(y, features=x)
