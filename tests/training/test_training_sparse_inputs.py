"""Sparse (CSR) features: small matrices densified once before training give exactly the numbers of the
batch-by-batch path (mlml.training.data.DENSIFY_ENTRIES); larger ones stay sparse and are read batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mlml.training.data as data
from mlml.training import TrainConfig, fit
from mlml.training.data import TrainingSet

FAST = dict(num_threads=1, log=False, epochs=4, patience=2, device="cpu", seed=3)
_INIT = TrainingSet.__init__


@pytest.fixture(scope="module")
def sparse_rows():
    """300 rows of sparse binary features (about 3 % non-zero) and labels that depend on them."""
    rng = np.random.default_rng(0)
    x = sp.random(300, 120, density=0.03, format="csr", random_state=1, dtype=np.float64)
    x.data[:] = 1.0
    w = rng.normal(size=(120, 5))
    y = (x @ w + rng.normal(scale=0.5, size=(300, 5)) > 0.3).astype(np.int8)
    return x, y


def _fit(x, y, monkeypatch, limit):
    monkeypatch.setattr(data, "DENSIFY_ENTRIES", limit)
    seen = []

    def spy(self, inputs, *args, **kwargs):
        seen.append(sp.issparse(inputs))
        _INIT(self, inputs, *args, **kwargs)

    monkeypatch.setattr(TrainingSet, "__init__", spy)
    result = fit(x[:240], y[:240], "knn-pu-em-balanced", TrainConfig(**FAST), validation=(x[240:], y[240:]))
    return result, seen


def test_densified_once_is_bit_identical_to_batch_by_batch(sparse_rows, monkeypatch):
    x, y = sparse_rows
    batched, seen_batched = _fit(x, y, monkeypatch, 0)  # every CSR matrix read batch by batch
    dense, seen_dense = _fit(x, y, monkeypatch, 1 << 26)
    assert seen_batched == [True] and seen_dense == [False]
    np.testing.assert_array_equal(batched.val_proba, dense.val_proba)
    np.testing.assert_array_equal(batched.predict_proba(x), dense.predict_proba(x))
    assert [h["val_score"] for h in batched.history] == [h["val_score"] for h in dense.history]


def test_the_limit_counts_entries(sparse_rows):
    x, _ = sparse_rows
    assert data.in_memory(x)
    assert data.in_memory(np.zeros((3, 2)))
    assert not data.in_memory(sp.csr_matrix((data.DENSIFY_ENTRIES + 1, 1)))
