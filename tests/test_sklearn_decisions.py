"""mlml.sklearn after issue 20: every threshold policy, the full label encoding (1, 0, 2, -1), and a scorer for model
selection that does not trust observed zeros."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlml.evaluation.policies import BASE_POLICIES, POLICIES
from mlml.sklearn import MissingLabelClassifier, pu_auc_score


def _fast(**params):
    return MissingLabelClassifier(**{"epochs": 15, "patience": None, "lr": 0.01, "num_threads": 1, **params})


def _toy(n=300, n_labels=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    Y = (X[:, :n_labels] + 0.3 * rng.normal(size=(n, n_labels)) > 0.2).astype(np.int8)
    return X, Y


@pytest.mark.parametrize("policy", [*POLICIES, "own"])
def test_every_policy_is_fitted_on_the_validation_rows_and_predict_applies_it(policy):
    from mlml.evaluation.policies import fit_policy

    X, Y = _toy()
    clf = _fast(method="knn-cb-wce", thresholds=policy).fit(X, Y)
    resolved = "calibrated" if policy == "own" else policy  # knn-cb-wce's own policy
    assert clf.policy_ == resolved
    model = clf.model_
    stored = model.decision or {"policy": "fixed"}
    if policy == "select":  # one of the base policies, chosen on the validation rows and stored as itself
        assert stored["policy"] in BASE_POLICIES and "select" in stored["info"]
        assert model.missing_share is not None
        resolved = stored["policy"]
    assert stored["policy"] == resolved
    proba = clf.predict_proba(X)
    predicted = clf.predict(X)
    if resolved == "cardinality":
        assert clf.thresholds_ is None  # per sample: the decision's thresholds depend on each row's scores
        np.testing.assert_array_equal(predicted, model._decision().predict(proba))
        assert len(np.unique(predicted.sum(axis=1))) > 1
    else:
        np.testing.assert_array_equal(predicted, (proba >= clf.thresholds_).astype(np.int8))
    if resolved in ("tuned", "pu"):  # the same fit by hand from the stored validation rows
        expected = fit_policy(resolved, model.val_proba, model.val_observed)
        np.testing.assert_allclose(clf.thresholds_, expected.class_thresholds, rtol=1e-6)


def test_verified_negatives_and_unknown_entries_are_accepted_csl_reads_them():
    X, Y = _toy(seed=1)
    rng = np.random.default_rng(2)
    Y = Y.copy()
    Y[(Y == 0) & (rng.random(Y.shape) < 0.5)] = 2  # verified negatives
    Y[rng.random(Y.shape) < 0.2] = -1  # unannotated
    clf = _fast(method="csl").fit(X, Y)
    assert clf.predict_proba(X).shape == Y.shape
    assert set(np.unique(clf.model_.val_observed)) <= {-1, 0, 1, 2}
    assert 2 in clf.model_.val_observed


def test_pu_auc_is_the_affine_image_of_the_true_auc_under_random_hiding():
    """AUC of positives vs unlabelled = α/2 + (1 − α) AUC (Menon et al. 2015; Jain et al. 2017), α the share of
    positives among the unlabelled; checked on one class with 40 % of its positives hidden at random."""
    rng = np.random.default_rng(0)
    n = 200_000
    y = rng.random(n) < 0.3
    scores = rng.normal(size=n) + 1.2 * y
    observed = y & (rng.random(n) >= 0.4)
    alpha = (y & ~observed).sum() / (~observed).sum()
    expected = alpha / 2 + (1 - alpha) * roc_auc_score(y, scores)
    got = pu_auc_score(observed.astype(np.int8)[:, None], scores[:, None])
    assert got == pytest.approx(expected, abs=2e-3)
    assert got == pytest.approx(roc_auc_score(observed, scores), abs=1e-12)  # it is the AUC of the observed labels


def test_pu_auc_leaves_out_unknown_entries_and_puts_verified_negatives_with_the_zeros():
    Y = np.array([[1, 1], [0, -1], [2, 0], [1, 2], [0, -1]], dtype=np.int8)
    S = np.array([[0.9, 0.2], [0.1, 0.9], [0.3, 0.8], [0.2, 0.1], [0.5, 0.95]])
    first = roc_auc_score([1, 0, 0, 1, 0], S[:, 0])
    second = roc_auc_score([1, 0, 0], S[[0, 2, 3], 1])
    assert pu_auc_score(Y, S) == pytest.approx((first + second) / 2)
    assert np.isnan(pu_auc_score(np.ones((3, 2), np.int8), S[:3]))


@pytest.mark.slow
def test_the_readme_grid_search_no_longer_prefers_plain_bce_where_it_is_worse_on_complete_labels():
    """The README's search (yeast, half the training positives hidden, bce against cb-wce): the mAP scorer, which
    counts the held-out folds' missing positives as negatives, picks bce; pu_auc_scorer picks the method that is
    better on the complete test labels."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlml.data import load
    from mlml.simulate import hide_positives
    from mlml.sklearn import masked_map_score, masked_map_scorer, pu_auc_scorer

    data = load("yeast")
    X_train, X_test, Y_train, Y_test = train_test_split(data.features, data.labels, test_size=0.25, random_state=0)
    Y_observed, _ = hide_positives(Y_train, 0.5, random_state=0)
    pipe = make_pipeline(StandardScaler(), MissingLabelClassifier(epochs=20, num_threads=1))
    grid = {"missinglabelclassifier__method": ["bce", "cb-wce"]}
    search = GridSearchCV(pipe, grid, scoring={"map": masked_map_scorer, "pu_auc": pu_auc_scorer}, refit=False,
                          cv=2).fit(X_train, Y_observed)
    methods = [p["missinglabelclassifier__method"] for p in search.cv_results_["params"]]
    by_map = methods[int(np.argmax(search.cv_results_["mean_test_map"]))]
    by_pu_auc = methods[int(np.argmax(search.cv_results_["mean_test_pu_auc"]))]
    complete = {m: masked_map_score(Y_test, clone(pipe).set_params(missinglabelclassifier__method=m)
                                    .fit(X_train, Y_observed).predict_proba(X_test)) for m in methods}
    assert by_map == "bce"
    assert complete["bce"] < complete["cb-wce"]  # plain BCE is worse on the complete labels
    assert by_pu_auc == "cb-wce"
