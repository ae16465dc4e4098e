"""Weight estimators against slow literal implementations of their formulas, and their common contract."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score, roc_auc_score

from mlml.exceptions import MLMLError
from mlml.simulate import hide_positives
from mlml.weights import ESTIMATORS
from mlml.weights.diagnostics import hidden_positive_detection
from mlml.weights.pattern import unique_patterns

# ----------------------------------------------------------------------------------------------------
# literal references: one sample at a time, straight from the formulas in the docstrings


def literal_pattern(fitted: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Eq. 3 per row: 1 − #{j : P_i ∪ {c} ⊆ P_j} / #{j : P_i ⊆ P_j}; NaN rows where no superset exists."""
    f, q = fitted == 1, query == 1
    out = np.full(query.shape, np.nan)
    for i in range(len(q)):
        superset = f[:, q[i]].all(axis=1)
        if superset.sum():
            out[i] = 1.0 - f[superset].sum(axis=0) / superset.sum()
    return out


def literal_conditional(fitted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p(c | l) = #{j : l, c ∈ P_j} / #{j : l ∈ P_j, y_jc ≠ -1}, and π_c = n_c / #{j : y_jc ≠ -1}."""
    positive, known = (fitted == 1).astype(float), (fitted != -1).astype(float)
    together, possible = positive.T @ positive, positive.T @ known
    cond = np.divide(together, possible, out=np.zeros_like(together), where=possible > 0)
    return cond, positive.sum(axis=0) / known.sum(axis=0)


def literal_pairwise(fitted: np.ndarray, query: np.ndarray, aggregate: str) -> np.ndarray:
    cond, prior = literal_conditional(fitted)
    out = np.empty(query.shape)
    for i in range(len(query)):
        positives = np.flatnonzero(query[i] == 1)
        if len(positives) == 0:
            out[i] = 1.0 - prior
            continue
        rows = cond[positives]
        if aggregate == "max":
            out[i] = 1.0 - rows.max(axis=0)
        elif aggregate == "mean":
            out[i] = 1.0 - rows.mean(axis=0)
        else:
            out[i] = np.prod(1.0 - rows, axis=0)
        out[i, positives] = 0.0
    return out


def literal_backoff(fitted: np.ndarray, query: np.ndarray, kappa: float, aggregate: str) -> np.ndarray:
    f, q = fitted == 1, query == 1
    pairwise = 1.0 - literal_pairwise(fitted, query, aggregate)
    out = np.empty(query.shape)
    for i in range(len(q)):
        superset = f[:, q[i]].all(axis=1)
        den, num = superset.sum(), f[superset].sum(axis=0)
        estimate = (num + kappa * pairwise[i]) / (den + kappa) if den + kappa > 0 else pairwise[i]
        out[i] = 1.0 - estimate
        out[i, q[i]] = 0.0
    return out


def random_labels(rng: np.random.Generator, n: int, n_labels: int, unknown: float = 0.0) -> np.ndarray:
    """Correlated labels: a few latent topics switch on groups of labels."""
    topics = rng.random((n, 4)) < 0.35
    loadings = rng.random((4, n_labels)) < 0.3
    probability = 0.05 + 0.6 * (topics.astype(float) @ loadings.astype(float) > 0)
    labels = (rng.random((n, n_labels)) < probability).astype(np.int8)
    labels[rng.random((n, n_labels)) < unknown] = -1
    return labels


@pytest.fixture(scope="module")
def coco_subsample(coco_seed_split):
    split = coco_seed_split
    rows = np.sort(np.random.default_rng(0).choice(split.observed.shape[0], 2000, replace=False))
    return split.observed[rows], split.hidden[rows]


# ----------------------------------------------------------------------------------------------------
# pattern (Eq. 3)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("sparse", [False, True])
def test_pattern_matches_literal_on_random_labels(seed, sparse):
    labels = random_labels(np.random.default_rng(seed), 300, 12)
    reference = literal_pattern(labels, labels)
    reference[labels == 1] = 0.0
    pos, neg = ESTIMATORS.create("pattern").fit_transform(sp.csr_matrix(labels) if sparse else labels)
    np.testing.assert_allclose(neg, reference, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pos, 1.0)


def test_pattern_matches_literal_on_coco(coco_subsample):
    observed, _ = coco_subsample
    reference = literal_pattern(observed, observed)
    reference[observed == 1] = 0.0
    _, neg = ESTIMATORS.create("pattern").fit_transform(observed)
    np.testing.assert_allclose(neg, reference, rtol=0, atol=1e-12)


def test_pattern_empty_pattern_gets_class_prior():
    labels = random_labels(np.random.default_rng(2), 200, 8)
    labels[:5] = 0
    _, neg = ESTIMATORS.create("pattern").fit_transform(labels)
    np.testing.assert_allclose(neg[:5], np.tile(1.0 - (labels == 1).mean(axis=0), (5, 1)), atol=1e-12)


def test_pattern_fit_one_set_transform_another():
    rng = np.random.default_rng(3)
    fitted, query = random_labels(rng, 400, 10), random_labels(rng, 150, 10)
    estimator = ESTIMATORS.create("pattern").fit(fitted)
    reference = literal_pattern(fitted, query)
    seen = ~np.isnan(reference[:, 0])
    assert seen.sum() > 50 and (~seen).sum() > 0  # both cases occur
    reference[query == 1] = 0.0
    _, neg = estimator.transform(query)
    np.testing.assert_allclose(neg[seen], reference[seen], rtol=0, atol=1e-12)
    assert estimator.n_unseen_ == (~seen).sum()


@pytest.mark.parametrize("unseen", ["pairwise-max", "pairwise-mean", "pairwise-noisy-or", "prior"])
def test_pattern_unseen_patterns_follow_the_policy(unseen):
    fitted = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 0, 1]])
    query = np.array([[1, 1, 1, 0], [0, 0, 1, 1]])  # no fitted sample holds either pattern
    estimator = ESTIMATORS.create("pattern", unseen=unseen).fit(fitted)
    _, neg = estimator.transform(query)
    if unseen == "prior":
        expected = np.tile(1.0 - (fitted == 1).mean(axis=0), (2, 1))
        expected[query == 1] = 0.0
    else:
        expected = literal_pairwise(fitted, query, unseen.removeprefix("pairwise-"))
    np.testing.assert_allclose(neg, expected, atol=1e-12)
    assert estimator.n_unseen_ == 2


def test_pattern_many_labels_and_unique_patterns():
    rng = np.random.default_rng(4)
    labels = (rng.random((400, 150)) < 0.02).astype(np.int8)
    labels[200:] = labels[:200]  # duplicated patterns across two 64-bit words
    patterns, inverse = unique_patterns(sp.csr_matrix(labels))
    expected = np.unique(labels, axis=0)
    assert patterns.shape[0] == len(expected)
    np.testing.assert_array_equal(patterns.toarray()[inverse], labels)
    reference = literal_pattern(labels, labels)
    reference[labels == 1] = 0.0
    _, neg = ESTIMATORS.create("pattern").fit_transform(sp.csr_matrix(labels))
    np.testing.assert_allclose(neg, reference, rtol=0, atol=1e-12)


def test_pattern_unknowns_are_not_positives():
    labels = random_labels(np.random.default_rng(5), 250, 9, unknown=0.1)
    reference = literal_pattern(labels, labels)
    reference[labels == 1] = 0.0
    reference[labels == -1] = 0.0
    _, neg = ESTIMATORS.create("pattern").fit_transform(labels)
    np.testing.assert_allclose(neg, reference, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------------
# pairwise and backoff


@pytest.mark.parametrize("aggregate", ["max", "mean", "noisy-or"])
@pytest.mark.parametrize("unknown", [0.0, 0.1])
def test_pairwise_matches_literal(aggregate, unknown):
    rng = np.random.default_rng(6)
    fitted, query = random_labels(rng, 300, 10, unknown), random_labels(rng, 120, 10, unknown)
    query[:3] = np.where(query[:3] == 1, 0, query[:3])  # empty patterns get the prior
    estimator = ESTIMATORS.create(f"pairwise-{aggregate}").fit(fitted)
    reference = literal_pairwise(fitted, query, aggregate)
    reference[query == -1] = 0.0
    pos, neg = estimator.transform(query)
    np.testing.assert_allclose(neg, reference, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pos, np.where(query == -1, 0.0, 1.0))


@pytest.mark.parametrize("aggregate", ["max", "mean", "noisy-or"])
def test_pairwise_matches_literal_on_coco(coco_subsample, aggregate):
    observed, _ = coco_subsample
    _, neg = ESTIMATORS.create(f"pairwise-{aggregate}").fit_transform(observed)
    np.testing.assert_allclose(neg, literal_pairwise(observed, observed, aggregate), rtol=0, atol=1e-12)


def test_pairwise_aggregate_parameter_and_many_labels():
    rng = np.random.default_rng(7)
    labels = sp.random(500, 2000, density=0.003, random_state=7, format="csr", data_rvs=lambda k: np.ones(k))
    estimator = ESTIMATORS.create("pairwise-mean", aggregate="max")
    assert estimator.get_params() == {"aggregate": "max"}
    _, neg = estimator.fit_transform(labels)
    dense = labels.toarray().astype(np.int8)
    rows = rng.choice(500, 20, replace=False)
    np.testing.assert_allclose(neg[rows], literal_pairwise(dense, dense[rows], "max"), atol=1e-12)


@pytest.mark.parametrize("kappa", [0.0, 2.0, 50.0])
@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_backoff_matches_literal(kappa, aggregate):
    rng = np.random.default_rng(8)
    fitted, query = random_labels(rng, 300, 8), random_labels(rng, 100, 8)
    estimator = ESTIMATORS.create("backoff", strength=kappa, aggregate=aggregate).fit(fitted)
    _, neg = estimator.transform(query)
    np.testing.assert_allclose(neg, literal_backoff(fitted, query, kappa, aggregate), rtol=0, atol=1e-12)


def test_backoff_matches_literal_on_coco(coco_subsample):
    observed, _ = coco_subsample
    _, neg = ESTIMATORS.create("backoff").fit_transform(observed)
    np.testing.assert_allclose(neg, literal_backoff(observed, observed, 5.0, "mean"), rtol=0, atol=1e-12)


def test_backoff_limits():
    rng = np.random.default_rng(9)
    fitted = random_labels(rng, 300, 8)
    exact = ESTIMATORS.create("pattern").fit_transform(fitted)[1]
    pairwise = ESTIMATORS.create("pairwise-mean").fit_transform(fitted)[1]
    np.testing.assert_allclose(ESTIMATORS.create("backoff", strength=0.0).fit_transform(fitted)[1], exact)
    far = ESTIMATORS.create("backoff", strength=1e12).fit_transform(fitted)[1]
    np.testing.assert_allclose(far, pairwise, atol=1e-8)
    with pytest.raises(MLMLError, match="strength"):
        ESTIMATORS.create("backoff", strength=-1.0).fit(fitted)


# ----------------------------------------------------------------------------------------------------
# denoising logistic regression, positive weights


def test_denoising_logistic_is_deterministic_and_learns():
    rng = np.random.default_rng(10)
    labels = random_labels(rng, 400, 10)
    first = ESTIMATORS.create("denoising-logistic", random_state=3).fit_transform(labels)[1]
    again = ESTIMATORS.create("denoising-logistic", random_state=3).fit_transform(sp.csr_matrix(labels))[1]
    np.testing.assert_allclose(first, again, atol=1e-10)
    estimator = ESTIMATORS.create("denoising-logistic", random_state=3).fit(labels)
    positives = sp.csr_matrix((labels == 1).astype(float))
    np.testing.assert_allclose(first[labels == 0], 1 - estimator.predict_proba(positives)[labels == 0])
    assert np.all(first[labels == 1] == 0.0)
    # it finds positives hidden from held-out samples better than the class prior does
    test = random_labels(rng, 400, 10)
    observed, hidden = hide_positives(test, 0.5, random_state=0)
    found = hidden_positive_detection(estimator.transform(observed)[1], observed, hidden)["auc"]
    prior = np.tile(1.0 - (labels == 1).mean(axis=0), (400, 1))
    assert found > hidden_positive_detection(prior, observed, hidden)["auc"]


# ----------------------------------------------------------------------------------------------------
# denoising MLP


def _mlp(**params):
    return ESTIMATORS.create("denoising-mlp", **{"epochs": 4, "hidden": 32, "num_threads": 1, **params})


def test_denoising_mlp_keeps_the_contract_and_the_global_state():
    labels = random_labels(np.random.default_rng(14), 300, 9, unknown=0.05)
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    threads = torch.get_num_threads()
    estimator = _mlp(random_state=5)
    pos, neg = estimator.fit_transform(labels)
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # the global RNGs are not touched
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert torch.get_num_threads() == threads  # num_threads=1 is restored after fit and transform
    np.testing.assert_array_equal(pos, np.where(labels == -1, 0.0, 1.0))
    assert np.all(neg[labels != 0] == 0.0) and np.all((neg >= 0) & (neg <= 1)) and neg.dtype == np.float64
    positives = sp.csr_matrix((labels == 1).astype(float))
    np.testing.assert_allclose(neg[labels == 0], 1 - estimator.predict_proba(positives)[labels == 0])
    assert estimator.loss_curve_.shape == (1, 4) and np.all(np.isfinite(estimator.loss_curve_))
    with pytest.raises(MLMLError, match="9 labels"):
        estimator.predict_proba(positives[:, :-1])


def test_denoising_mlp_default_architecture():
    labels = random_labels(np.random.default_rng(15), 50, 6)
    network = ESTIMATORS.create("denoising-mlp", epochs=1).fit(labels).networks_[0]
    linear = [(layer.in_features, layer.out_features) for layer in network if isinstance(layer, torch.nn.Linear)]
    assert linear == [(6, 256), (256, 256), (256, 6)]
    assert [type(layer).__name__ for layer in network] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    logistic = ESTIMATORS.create("denoising-mlp", epochs=1, n_layers=0).fit(labels).networks_[0]
    assert [(layer.in_features, layer.out_features) for layer in logistic] == [(6, 6)]


def test_denoising_mlp_is_reproducible():
    labels = random_labels(np.random.default_rng(16), 300, 9, unknown=0.05)
    first = _mlp(random_state=5).fit(labels)
    again = _mlp(random_state=5).fit(sp.csr_matrix(labels))
    for a, b in zip(first.networks_[0].parameters(), again.networks_[0].parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(again.transform(labels)[1], first.transform(labels)[1])
    other = _mlp(random_state=6).fit(labels)
    assert np.abs(other.transform(labels)[1] - first.transform(labels)[1]).max() > 1e-3
    # an ensemble averages independently seeded networks; the first is the single network of the same seed
    ensemble = _mlp(random_state=5, n_models=3).fit(labels)
    assert len(ensemble.networks_) == 3 and ensemble.loss_curve_.shape == (3, 4)
    for a, b in zip(first.networks_[0].parameters(), ensemble.networks_[0].parameters(), strict=True):
        assert torch.equal(a, b)
    x = torch.from_numpy((labels == 1).astype(np.float32))
    with torch.no_grad():
        mean = np.mean([torch.sigmoid(network(x)).double().numpy() for network in ensemble.networks_], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(labels == 1), mean, atol=1e-12)


def test_denoising_mlp_pickles():
    labels = random_labels(np.random.default_rng(17), 200, 8)
    estimator = _mlp().fit(labels)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(restored.transform(labels)[1], estimator.transform(labels)[1])
    buffer = io.BytesIO()
    torch.save({"estimator": estimator}, buffer)  # what the trainer's checkpoints do
    buffer.seek(0)
    loaded = torch.load(buffer, map_location="cpu", weights_only=False)["estimator"]
    np.testing.assert_array_equal(loaded.transform(labels)[1], estimator.transform(labels)[1])


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("drop_ratio", 0.0),
        ("drop_ratio", 1.0),
        ("drop_ratio", "0.3"),
        ("hidden", 0),
        ("n_layers", -1),
        ("n_layers", 1.5),
        ("epochs", 0),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("weight_decay", -1e-5),
        ("batch_size", 0),
        ("n_models", 0),
        ("n_models", True),
        ("num_threads", 0),
        ("random_state", "seed"),
    ],
)
def test_denoising_mlp_validates_its_parameters(param, value):
    labels = random_labels(np.random.default_rng(18), 20, 4)
    with pytest.raises(MLMLError, match=f"'{param}' parameter"):
        ESTIMATORS.create("denoising-mlp", **{"epochs": 1, param: value}).fit(labels)


def test_denoising_mlp_learns():
    rng = np.random.default_rng(10)
    labels = random_labels(rng, 400, 10)
    estimator = _mlp(epochs=30, batch_size=32).fit(labels)  # 400 rows: small batches make enough steps
    # it finds positives hidden from held-out samples better than the class prior does
    test = random_labels(rng, 400, 10)
    observed, hidden = hide_positives(test, 0.5, random_state=0)
    found = hidden_positive_detection(estimator.transform(observed)[1], observed, hidden)["auc"]
    prior = np.tile(1.0 - (labels == 1).mean(axis=0), (400, 1))
    assert found > hidden_positive_detection(prior, observed, hidden)["auc"]


def test_denoising_mlp_finds_the_seeds_hidden_positives_on_coco(coco_subsample):
    observed, hidden = coco_subsample
    prior = np.tile(1.0 - (observed == 1).mean(axis=0), (observed.shape[0], 1))
    baseline = hidden_positive_detection(prior, observed, hidden)["auc"]  # ~0.80
    # 2,000 rows are 8 batches of 256: the default 30 epochs make too few steps to learn (AUC ~0.80), smaller
    # batches make enough (0.89 here; 0.905 with 30 epochs)
    estimator = ESTIMATORS.create("denoising-mlp", epochs=20, batch_size=64, num_threads=1)
    _, neg = estimator.fit_transform(observed)
    assert hidden_positive_detection(neg, observed, hidden)["auc"] > baseline + 0.05


def test_class_balance_matches_the_seed_formula():
    rng = np.random.default_rng(11)
    labels = random_labels(rng, 500, 9)
    labels[:, 0] = 0
    labels[:3, 1] = 1
    pos, neg = ESTIMATORS.create("class-balance").fit_transform(labels)
    counts = (labels == 1).sum(axis=0)
    expected = [10.0 if n == 0 else min(max(round(500 / (2 * n)), 1), 10) for n in counts]
    np.testing.assert_array_equal(pos, np.tile(expected, (500, 1)))
    np.testing.assert_array_equal(neg, 1.0)
    pos, _ = ESTIMATORS.create("class-balance", max_weight=3.0).fit_transform(labels)
    assert pos.max() == 3.0
    with pytest.raises(MLMLError, match="max_weight"):
        ESTIMATORS.create("class-balance", max_weight=0.5).fit(labels)


def test_agreement_weights():
    observed = np.array([[1, 0, -1], [0, 1, 0]])
    votes = np.array([[2, 1, 0], [0, 3, 3]])
    pos, neg = ESTIMATORS.create("agreement", votes=votes, raters=np.array([4, 3])).fit_transform(observed)
    np.testing.assert_allclose(pos, [[0.5, 1.0, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(neg, [[1.0, 0.75, 0.0], [1.0, 1.0, 0.0]])
    with pytest.raises(MLMLError, match="votes"):
        ESTIMATORS.create("agreement", votes=votes).fit(observed[:1])
    with pytest.raises(MLMLError, match=r"entry \(1, 1\)"):
        ESTIMATORS.create("agreement", votes=votes, raters=2).fit(observed)
    ones = ESTIMATORS.create("agreement").fit_transform(observed)
    np.testing.assert_array_equal(ones[0], np.where(observed == -1, 0.0, 1.0))


# ----------------------------------------------------------------------------------------------------
# diagnostics


def test_hidden_positive_detection_matches_sklearn(coco_subsample):
    observed, hidden = coco_subsample
    _, neg = ESTIMATORS.create("pairwise-noisy-or").fit_transform(observed)
    result = hidden_positive_detection(neg, observed, hidden)
    zero = observed == 0
    assert result["n_candidates"] == zero.sum() and result["n_hidden"] == hidden.sum()
    assert result["auc"] == pytest.approx(roc_auc_score(hidden[zero], 1 - neg[zero]))
    assert result["ap"] == pytest.approx(average_precision_score(hidden[zero], 1 - neg[zero]))
    assert result["auc"] > 0.8  # co-occurrence carries real signal on COCO (the class prior gets ~0.80)
    with pytest.raises(MLMLError, match="hidden positives must be 0"):
        hidden_positive_detection(neg, observed, observed == 1)
    with pytest.raises(MLMLError, match="same shape"):
        hidden_positive_detection(neg[:5], observed, hidden)


# ----------------------------------------------------------------------------------------------------
# common tests over every registered estimator


def _create(name: str, labels: np.ndarray):
    if name == "agreement":
        rng = np.random.default_rng(0)
        return ESTIMATORS.create(name, votes=rng.integers(0, 4, labels.shape), raters=3)
    if name == "denoising-logistic":
        return ESTIMATORS.create(name, max_iter=50)
    if name == "denoising-mlp":
        return ESTIMATORS.create(name, epochs=3, hidden=32)
    return ESTIMATORS.create(name)


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_common_contract(name):
    rng = np.random.default_rng(12)
    labels = random_labels(rng, 120, 7, unknown=0.05)
    inputs = {"hidden": np.zeros(labels.shape, dtype=bool)}
    estimator = _create(name, labels)
    if estimator.uses_features:
        inputs["features"] = rng.normal(size=(120, 5))
    with pytest.raises(NotFittedError):
        estimator.transform(labels, **inputs)
    assert clone(estimator).get_params().keys() == estimator.get_params().keys()
    rows = np.arange(120)
    pos, neg = estimator.fit(labels, **inputs).transform(labels, rows=rows, **inputs)
    pos_sparse, neg_sparse = (
        _create(name, labels).fit(sp.csr_matrix(labels), **inputs).transform(sp.csr_matrix(labels), rows=rows,
                                                                              **inputs)
    )
    for weights in (pos, neg):
        assert weights.shape == labels.shape and weights.dtype == np.float64
        assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
        assert np.all(weights[labels == -1] == 0.0)
    assert np.all(neg <= 1.0)
    np.testing.assert_allclose(pos, pos_sparse, atol=1e-10)
    np.testing.assert_allclose(neg, neg_sparse, atol=1e-10)
    with pytest.raises(MLMLError):
        estimator.transform(labels[:, :-1], **{k: v[:, :-1] if k == "hidden" else v for k, v in inputs.items()})


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_rows_name_the_fitted_rows_of_any_batch(name):
    """The one rule of the estimator contract: a batch of fitted rows -- any subset, any order -- gets exactly the
    weights those rows get in the transform of all fitted rows; estimators without per-row state ignore rows."""
    rng = np.random.default_rng(5)
    labels = random_labels(rng, 90, 6, unknown=0.05)
    inputs = {"hidden": rng.random(labels.shape) < 0.1, "features": rng.normal(size=(90, 4))}
    estimator = _create(name, labels)
    given = {k: v for k, v in inputs.items() if k == "features" and estimator.uses_features
             or k == "hidden" and estimator.needs_hidden}
    full_pos, full_neg = estimator.fit(labels, **given).transform(labels, rows=np.arange(90), **given)
    batch = rng.permutation(90)[:37]  # a permuted subset
    part = {k: v[batch] for k, v in given.items()}
    pos, neg = estimator.transform(labels[batch], rows=batch, **part)
    np.testing.assert_allclose(pos, full_pos[batch], atol=1e-12)
    np.testing.assert_allclose(neg, full_neg[batch], atol=1e-12)
    if not estimator.uses_rows:
        pos_new, neg_new = estimator.transform(labels[batch], **part)
        np.testing.assert_allclose(neg_new, full_neg[batch], atol=1e-12)
    with pytest.raises(MLMLError, match="'rows'"):
        estimator.transform(labels[batch], rows=batch[:-1], **part)
    with pytest.raises(MLMLError, match="fitted rows"):
        estimator.transform(labels[batch], rows=batch + 90, **part)


@pytest.mark.parametrize("name", ["pattern", "pairwise-max", "pairwise-mean", "pairwise-noisy-or", "backoff"])
def test_co_occurrence_estimators_are_permutation_equivariant(name):
    labels = random_labels(np.random.default_rng(13), 200, 8)
    order = np.random.default_rng(1).permutation(200)
    _, neg = ESTIMATORS.create(name).fit_transform(labels)
    _, permuted = ESTIMATORS.create(name).fit_transform(labels[order])
    np.testing.assert_allclose(permuted, neg[order], atol=1e-12)


# ----------------------------------------------------------------------------------------------------
# partial annotations: verified negatives (issue 14)


def _partial_labels(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """Labels with every state: positives, suspect zeros, verified negatives (2) and unknowns (-1)."""
    labels = random_labels(rng, n, c, unknown=0.1)
    labels[(labels == 0) & (rng.random(labels.shape) < 0.4)] = 2
    return labels


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_a_verified_negative_always_gets_full_weight(name):
    """Whatever the estimator, ω = ω̄ = 1 on a verified negative (2), on fitted and on new rows, dense and CSR."""
    rng = np.random.default_rng(21)
    labels = _partial_labels(rng, 120, 7)
    assert (labels == 2).sum() > 20 and (labels == 0).sum() > 20
    inputs = {"hidden": np.zeros(labels.shape, dtype=bool), "features": rng.normal(size=(120, 5))}
    estimator = _create(name, labels)
    given = {k: v for k, v in inputs.items() if k == "features" and estimator.uses_features
             or k == "hidden" and estimator.needs_hidden}
    estimator.fit(sp.csr_matrix(labels), **given)
    for rows in (np.arange(120), None if not estimator.uses_rows else np.arange(120)):
        pos, neg = estimator.transform(labels, rows=rows, **given)
        np.testing.assert_array_equal(pos[labels == 2], 1.0)
        np.testing.assert_array_equal(neg[labels == 2], 1.0)
        assert np.all(neg[labels == -1] == 0.0)
    if estimator.detects_missing and name != "ignore-missing":  # the suspect zeros are still weighed
        assert np.any(neg[labels == 0] < 1.0)


@pytest.mark.parametrize("name", ["pattern", "pairwise-max", "pairwise-mean", "pairwise-noisy-or", "backoff"])
def test_co_occurrence_statistics_count_a_verified_negative_as_a_known_negative(name):
    """Fitting on labels whose zeros are partly verified (2) gives the suspect zeros the weights of the all-zero
    labels: a verified negative is a known negative in every count (only the weight of the 2s themselves moves)."""
    rng = np.random.default_rng(4)
    labels = random_labels(rng, 150, 6, unknown=0.05)
    verified = labels.copy()
    verified[(labels == 0) & (rng.random(labels.shape) < 0.5)] = 2
    _, neg = ESTIMATORS.create(name).fit_transform(labels)
    _, neg_verified = ESTIMATORS.create(name).fit_transform(verified)
    still_zero = verified == 0
    np.testing.assert_allclose(neg_verified[still_zero], neg[still_zero], atol=1e-12)
    np.testing.assert_array_equal(neg_verified[verified == 2], 1.0)


def test_pu_adaptive_state_covers_unannotated_entries_as_candidates():
    """pu-adaptive keeps a state for the entries a method may assume negative (-1 read as 0), with the base
    prior of those entries as zeros; transforming the observed labels themselves still gives them weight 0."""
    from mlml.labels import unannotated_as_negative

    rng = np.random.default_rng(8)
    labels = _partial_labels(rng, 80, 5)
    estimator = ESTIMATORS.create("pu-adaptive").fit(labels)
    rows = np.arange(80)
    relabelled = unannotated_as_negative(labels)
    _, neg = estimator.transform(relabelled, rows=rows)
    _, base = ESTIMATORS.create("pairwise-noisy-or").fit(labels).transform(relabelled)
    unknown = labels == -1
    np.testing.assert_allclose(neg[unknown], base[unknown], atol=1e-12)
    assert np.any(neg[unknown] < 1.0)  # weighed as candidates, not left at 1
    np.testing.assert_array_equal(estimator.transform(labels, rows=rows)[1][unknown], 0.0)
    np.testing.assert_array_equal(neg[labels == 2], 1.0)
