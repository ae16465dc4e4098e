"""mlml.sklearn: the scikit-learn estimator over mlml's trainer, its masked scorer, and scikit-learn's own checks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlml.exceptions import MLMLError
from mlml.folds import make_fold
from mlml.sklearn import MissingLabelClassifier, masked_map_score, masked_map_scorer

# The checks of scikit-learn's suite that do not apply to a classifier of 2-D labels in mlml's encoding
# (1 positive, 0 negative, 2 verified negative, -1 unknown), each with the reason. Every other check of the suite
# runs and passes; xfail_strict makes a listed check that starts passing fail this test, so the list stays true.
# (The checks whose labels are {1, 2} pass since 2 is read as a verified negative, issue 20.)
EXPECTED_FAILED_CHECKS = {
    "check_classifiers_classes": "fits 1-D string class labels; y is a 2-D matrix of 1/0/-1 here",
    "check_classifiers_train": "asserts a 1-D prediction (n_samples,) of a single output; predict returns "
                               "(n_samples, n_labels) for every y, one column per label",
    "check_estimator_sparse_array": "fits and predicts sparse X fine, then asserts predict_proba is "
                                    "(n_samples, 2) for one binary output; predict_proba is (n_samples, "
                                    "n_labels), one probability per label, as MLPClassifier's multi-label one",
    "check_estimator_sparse_matrix": "as check_estimator_sparse_array",
    "check_classifiers_multilabel_output_format_predict": "wants predict in y's dtype (int64); predict returns "
                                                          "mlml's int8 labels whatever the dtype of y",
}


def _fast(**params):
    return MissingLabelClassifier(**{"epochs": 20, "patience": None, "lr": 0.01, "num_threads": 1, **params})


@parametrize_with_checks([_fast()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS, xfail_strict=True)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def _toy(n=240, n_labels=4, seed=0, unknown=0.1):
    """Features whose first columns decide the labels, with a share of -1 (unknown) entries."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    Y = (X[:, :n_labels] + 0.3 * rng.normal(size=(n, n_labels)) > 0.2).astype(np.int8)
    Y[rng.random(Y.shape) < unknown] = -1
    return X, Y


def test_fit_predict_shapes_and_types():
    X, Y = _toy()
    clf = _fast(method="cb-wce").fit(X, Y)
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and proba.dtype == np.float32 and ((proba >= 0) & (proba <= 1)).all()
    pred = clf.predict(X)
    assert pred.shape == Y.shape and pred.dtype == np.int8
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(np.int8))
    assert clf.n_features_in_ == 6 and list(clf.classes_) == [0, 1, 2, 3]
    assert len(clf.model_.history) == 20
    assert clf.score(X, Y) > 0.8  # the labels are learnable from the features


def test_validation_rows_are_the_fold_layers_carve():
    X, Y = _toy()
    clf = _fast(val_fraction=0.25, seed=3).fit(X, Y)
    fold = make_fold(type("Rows", (), {"labels": Y})(), ratio=0.0, seed=3, val_fraction=0.25, inputs=X)
    np.testing.assert_array_equal(clf.model_.val_observed, Y[fold.val])
    assert len(fold.val) == 60


def test_sparse_inputs_and_labels_give_the_dense_numbers():
    X, Y = _toy()
    dense = _fast().fit(X, Y).predict_proba(X)
    sparse = _fast().fit(sp.csr_matrix(X), sp.csr_matrix(Y)).predict_proba(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6)


def test_same_seed_same_numbers_clone_too_and_global_rng_untouched():
    X, Y = _toy()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = _fast(seed=5)
    a = first.fit(X, Y).predict_proba(X)
    assert torch.equal(torch.get_rng_state(), before)
    b = clone(first).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = _fast(seed=6).fit(X, Y).predict_proba(X)
    assert not np.array_equal(a, c)


def test_tuned_thresholds_come_from_the_validation_rows():
    from mlml.evaluation import tune_thresholds

    X, Y = _toy()
    clf = _fast(thresholds="tuned").fit(X, Y)
    expected = tune_thresholds(clf.model_.val_observed, clf.model_.val_proba)
    np.testing.assert_allclose(clf.thresholds_, expected, rtol=1e-6)
    assert not np.allclose(clf.thresholds_, 0.5)
    np.testing.assert_array_equal(clf.predict(X), (clf.predict_proba(X) >= clf.thresholds_).astype(np.int8))


def test_parameters_reach_the_trainer():
    X, Y = _toy()
    clf = _fast(head="mlp", hidden_sizes=(7, 5), head_kwargs={"dropout": 0.1}, weight_decay=0.0).fit(X, Y)
    config = clf.model_.config
    assert config.head_kwargs == {"dropout": 0.1, "hidden_sizes": (7, 5)}
    assert config.weight_decay == 0.0 and config.seed == 0 and config.epochs == 20
    widths = [m.out_features for m in clf.model_.model.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [7, 5, 4]
    epr = _fast(method="epr", method_params={"expected_positives": 1.5}).fit(X, Y)
    assert epr.model_.method == "epr"


def test_masked_map_ignores_unknown_entries():
    rng = np.random.default_rng(1)
    Y = (rng.random((50, 3)) < 0.4).astype(np.int8)
    scores = rng.random((50, 3))
    Y[rng.random(Y.shape) < 0.3] = -1
    expected = np.mean([average_precision_score(Y[Y[:, j] != -1, j], scores[Y[:, j] != -1, j]) for j in range(3)])
    assert masked_map_score(Y, scores) == pytest.approx(expected)
    # what sits behind a -1 does not count: change the scores there only
    changed = np.where(Y == -1, 1.0 - scores, scores)
    assert masked_map_score(sp.csr_matrix(Y), changed) == pytest.approx(expected)
    with pytest.raises(MLMLError, match="shape"):
        masked_map_score(Y, scores[:, :2])


def test_pipeline_and_grid_search_with_the_masked_scorer():
    X, Y = _toy(n=200)
    pipe = make_pipeline(StandardScaler(), _fast(epochs=10))
    grid = {"missinglabelclassifier__method": ["bce", "cb-wce"], "missinglabelclassifier__lr": [0.01, 0.001]}
    search = GridSearchCV(pipe, grid, scoring=masked_map_scorer, cv=2).fit(X, Y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all() and len(set(scores.round(6))) > 1
    assert search.best_params_["missinglabelclassifier__lr"] in (0.01, 0.001)
    best = search.best_estimator_[-1]
    assert best.method == search.best_params_["missinglabelclassifier__method"]
    assert search.score(X, Y) == pytest.approx(masked_map_score(Y, search.predict_proba(X)))


@pytest.mark.parametrize(
    ("params", "y", "match"),
    [
        ({"method": "im-wce"}, None, "oracle"),
        ({"thresholds": "best"}, None, "'thresholds'"),
        ({"thresholds": "own", "method": "knn-cb-wce", "val_fraction": 0.0, "fixed_epochs": True}, None,
         "own policy 'calibrated' needs validation rows"),
        ({"thresholds": "tuned", "val_fraction": 0.0, "fixed_epochs": True}, None, "val_fraction"),
        ({"hidden_sizes": (4,), "head_kwargs": {"hidden_sizes": (8,)}}, None, "twice"),
        ({}, np.zeros(240, dtype=np.int8), "2-D"),
        ({}, np.full((240, 4), 3, dtype=np.int8), "Found the value 3"),
        ({}, np.full((239, 4), 1, dtype=np.int8), "240 rows but y has 239"),
    ],
)
def test_errors_name_the_parameter(params, y, match):
    X, Y = _toy()
    with pytest.raises(MLMLError, match=match):
        _fast(**params).fit(X, Y if y is None else y)
