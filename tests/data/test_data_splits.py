"""kfold_indices: covering and disjoint, deterministic, stratification better than plain k-fold."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.data import load
from mlml.data.splits import fold_of_each_sample, kfold_indices, stratification_error
from mlml.exceptions import MLMLError


def _synthetic(seed: int = 3) -> np.ndarray:
    """300 x 12 labels whose frequencies run from 50 % down to 2 % (a few rare labels)."""
    rng = np.random.default_rng(seed)
    probabilities = np.geomspace(0.5, 0.02, 12)
    return (rng.random((300, 12)) < probabilities).astype(np.int8)


@pytest.mark.parametrize("stratified", [True, False])
def test_every_sample_in_exactly_one_test_fold(stratified: bool) -> None:
    labels = _synthetic()
    folds = kfold_indices(labels, 4, stratified=stratified, random_state=7)
    assert len(folds) == 4
    fold = fold_of_each_sample(folds, labels.shape[0])
    assert np.bincount(fold).min() >= 300 // 4 - 5
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(300))


@pytest.mark.parametrize("stratified", [True, False])
def test_same_seed_same_folds_other_seed_other_folds(stratified: bool) -> None:
    labels = _synthetic()
    a = kfold_indices(labels, 4, stratified=stratified, random_state=11)
    b = kfold_indices(labels, 4, stratified=stratified, random_state=11)
    c = kfold_indices(labels, 4, stratified=stratified, random_state=12)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))
    seq = kfold_indices(labels, 4, stratified=stratified, random_state=np.random.SeedSequence(5))
    seq_again = kfold_indices(labels, 4, stratified=stratified, random_state=np.random.SeedSequence(5))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(seq, seq_again))


def test_int_seed_is_given_to_the_splitter_unchanged() -> None:
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    labels = _synthetic()
    ours = kfold_indices(labels, 4, random_state=42)
    theirs = MultilabelStratifiedKFold(n_splits=4, shuffle=True, random_state=42).split(
        np.zeros((300, 1)), labels
    )
    for (_, test), (_, reference) in zip(ours, theirs):
        np.testing.assert_array_equal(test, np.sort(reference))


def test_stratification_beats_plain_kfold_over_seeds() -> None:
    labels = _synthetic()
    stratified = [stratification_error(labels, kfold_indices(labels, 4, random_state=s)) for s in range(5)]
    plain = [
        stratification_error(labels, kfold_indices(labels, 4, stratified=False, random_state=s))
        for s in range(5)
    ]
    assert max(stratified) < min(plain)


def test_stratification_on_real_yeast() -> None:
    labels = load("yeast").labels
    stratified = stratification_error(labels, kfold_indices(labels, 4, random_state=0))
    plain = stratification_error(labels, kfold_indices(labels, 4, stratified=False, random_state=0))
    assert stratified < plain / 2
    # the rarest label (34 positives) is dealt evenly: 8 or 9 per fold
    rare = int(np.argmin(labels.sum(axis=0)))
    per_fold = [int(labels[test, rare].sum()) for _, test in kfold_indices(labels, 4, random_state=0)]
    assert max(per_fold) - min(per_fold) <= 1


def test_csr_labels_give_the_same_folds_as_dense() -> None:
    labels = _synthetic()
    dense = kfold_indices(labels, 3, random_state=1)
    sparse = kfold_indices(sp.csr_matrix(labels), 3, random_state=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(dense, sparse))


def test_single_label_column_uses_stratified_kfold() -> None:
    labels = np.array([[1]] * 8 + [[0]] * 12, dtype=np.int8)
    folds = kfold_indices(labels, 4, random_state=0)
    assert [int(labels[test].sum()) for _, test in folds] == [2, 2, 2, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_splits": 1}, "'n_splits' parameter of kfold_indices must be an int >= 2"),
        ({"n_splits": 400}, "exceeds the number of samples"),
        ({"random_state": -1}, "must be >= 0"),
        ({"random_state": "a"}, "'random_state' parameter of kfold_indices"),
    ],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(MLMLError, match=message):
        kfold_indices(_synthetic(), **kwargs)
