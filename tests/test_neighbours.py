"""``mlml.neighbours``: the exact algorithms agree with scikit-learn's brute force, the approximate one finds
almost all true neighbours, and the leave-one-out query follows scikit-learn's rule."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from mlml.exceptions import MLMLError
from mlml.neighbours import NeighbourIndex, _drop_self, faiss_available, resolve_algorithm


def _clusters(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d)) * 3
    return centres[rng.integers(0, 20, n)] + rng.normal(size=(n, d))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_tree_equals_brute_force(metric):
    x = _clusters(600, 5)
    reference = NearestNeighbors(n_neighbors=7, metric=metric, algorithm="brute").fit(x)
    tree = NeighbourIndex(metric=metric, algorithm="tree").fit(x)
    np.testing.assert_array_equal(tree.query(7), reference.kneighbors(return_distance=False))
    np.testing.assert_array_equal(tree.query(7, x[:50] + 0.01), reference.kneighbors(x[:50] + 0.01,
                                                                                      return_distance=False))


def test_brute_blocks_equal_one_query_and_sparse_rows():
    x = sp.csr_matrix(np.maximum(_clusters(5000, 30, seed=1), 0))
    reference = NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute").fit(x)
    index = NeighbourIndex(algorithm="auto").fit(x)
    assert index.algorithm_ == "brute"
    np.testing.assert_array_equal(index.query(5), reference.kneighbors(return_distance=False))


def test_leave_one_out_follows_scikit_learn_with_duplicates():
    x = np.repeat(_clusters(40, 3, seed=2), 2, axis=0)  # every row twice
    reference = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(x).kneighbors(return_distance=False)
    got = NeighbourIndex(metric="euclidean", algorithm="brute").fit(x).query(3)
    assert (got != np.arange(80)[:, None]).all()
    np.testing.assert_array_equal(np.sort(got[:, :1], axis=1), np.sort(reference[:, :1], axis=1))
    found = np.array([[5, 0, 7], [9, 8, -1], [3, 4, 6]])  # row 0 found, a -1 (not found), row 2 absent
    np.testing.assert_array_equal(_drop_self(found, np.array([0, 1, 2]), 2), [[5, 7], [9, 8], [4, 6]])


def test_auto_resolution_and_errors():
    assert resolve_algorithm("auto", 10**6, 4, False) == "tree"
    assert resolve_algorithm("auto", 10**4, 100, False) == "brute"
    assert resolve_algorithm("auto", 10**6, 100, True) == "brute"
    with pytest.raises(MLMLError, match="algorithm"):
        NeighbourIndex(algorithm="lsh").fit(np.zeros((3, 2)))
    with pytest.raises(MLMLError, match="dense"):
        NeighbourIndex(algorithm="tree").fit(sp.csr_matrix(np.eye(3)))
    with pytest.raises(MLMLError, match="not fitted"):
        NeighbourIndex().query(1)
    with pytest.raises(MLMLError, match="k = 3"):
        NeighbourIndex().fit(np.eye(3)).query(3)


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed (pip install 'mlml[ann]')")
def test_hnsw_recall():
    x = _clusters(3000, 40, seed=3)
    truth = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(x)
    exact = truth.kneighbors(return_distance=False)
    index = NeighbourIndex(algorithm="hnsw").fit(x)
    found = index.query(10)
    assert (found != np.arange(3000)[:, None]).all() and found.min() >= 0
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall > 0.95
    new = index.query(10, x[:100] * 1.5)  # cosine: a scaled row has the same neighbours, itself included
    assert (new[:, 0] == np.arange(100)).mean() > 0.95
    assert resolve_algorithm("auto", 10**6, 100, False) == "hnsw"
