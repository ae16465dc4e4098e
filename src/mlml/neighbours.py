"""Nearest neighbours in feature space that scale: the one index behind the ``knn`` estimator and ``suggest``.

``NeighbourIndex(metric, algorithm).fit(X)`` then ``.query(k)`` (every fitted row's ``k`` nearest other fitted rows,
the row itself left out) or ``.query(k, Q)`` (the ``k`` nearest fitted rows of new rows ``Q``). Queries run a
block of rows at a time, so the memory of a query is ``block x k``, never ``n x n``; ``progress=True`` shows a
tqdm bar.

Algorithms (``algorithm=``):

* ``"brute"`` -- scikit-learn's exact brute force (every distance): ``O(n^2 d)`` time. Dense or sparse rows.
* ``"tree"`` -- scikit-learn's exact KD tree: ``O(n log n)`` for few features (about ``d <= 16``); it degrades
  to brute force as ``d`` grows. Dense rows only. Cosine is searched as the euclidean distance between
  L2-normalised rows (``||a - b||^2 = 2 - 2 cos(a, b)``: the same order).
* ``"hnsw"`` -- faiss's HNSW graph (Malkov & Yashunin 2018; ``M = 16``, ``efConstruction = 40``,
  ``efSearch = max(64, 2k)``): approximate (recall of the true neighbours 0.997 measured on 100,000 clustered
  rows x 100 features; ``tests/test_neighbours.py`` asks > 0.95), ``O(n log n)`` for any ``d``, in float32.
  Dense rows only; needs the optional ``faiss-cpu`` (``pip install 'mlml[ann]'``).
* ``"auto"`` -- exact where exact is affordable, so that small data sets keep their exact neighbours: sparse rows
  -> brute; ``d <= 16`` -> tree; ``n <= EXACT_ROWS`` -> brute; otherwise hnsw when faiss is installed, else brute
  with a warning that states its cost.

Ties between equally distant rows may be ordered differently by different algorithms; otherwise the exact
algorithms return the same neighbours.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_option, check_positive_int
from mlml.exceptions import MLMLError

Algorithm = Literal["auto", "brute", "tree", "hnsw"]
ALGORITHMS: tuple[str, ...] = ("auto", "brute", "tree", "hnsw")
#: ``"auto"`` searches exactly up to this many fitted rows whatever the width.
EXACT_ROWS = 20_000
#: ``"auto"`` uses the KD tree up to this many features.
TREE_FEATURES = 16
_BLOCK = 4096
logger = logging.getLogger("mlml.neighbours")


def faiss_available() -> bool:
    """Whether the optional ``faiss`` package (``faiss-cpu``) can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_algorithm(algorithm: str, n_rows: int, n_features: int, sparse: bool) -> str:
    """The algorithm ``"auto"`` stands for on ``n_rows x n_features`` rows (see the module docstring)."""
    check_option(algorithm, "algorithm", "NeighbourIndex", ALGORITHMS)
    if algorithm != "auto":
        if sparse and algorithm in ("tree", "hnsw"):
            raise MLMLError(f"The {algorithm!r} neighbour search needs dense features; sparse ones use 'brute'.")
        return algorithm
    if sparse:
        return "brute"
    if n_features <= TREE_FEATURES:
        return "tree"
    if n_rows <= EXACT_ROWS:
        return "brute"
    if faiss_available():
        return "hnsw"
    warnings.warn(
        f"Exact neighbour search over {n_rows:,} rows x {n_features:,} features computes {float(n_rows) ** 2:.2g} "
        "distances (hours on a few cores for a million rows); install faiss-cpu (pip install 'mlml[ann]') for the "
        "approximate HNSW index.",
        stacklevel=3,
    )
    return "brute"


class NeighbourIndex:
    """k-nearest-neighbour search over fitted rows (see the module docstring).

    Args:
        metric: ``"cosine"`` or ``"euclidean"``.
        algorithm: ``"auto"``, ``"brute"``, ``"tree"`` or ``"hnsw"``.
        progress: show a tqdm bar while querying.

    Attributes (after ``fit``):
        algorithm_: the algorithm used.
        n_rows_, n_features_: the fitted rows' shape.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
        >>> NeighbourIndex(metric="euclidean").fit(x).query(1).ravel().tolist()
        [1, 0, 3, 2]
    """

    def __init__(self, metric: str = "cosine", algorithm: str = "auto", progress: bool = False) -> None:
        self.metric = metric
        self.algorithm = algorithm
        self.progress = progress

    def fit(self, x: Any) -> NeighbourIndex:
        """Index the rows of ``x`` (``(n_rows, n_features)``, dense or CSR)."""
        check_option(self.metric, "metric", "NeighbourIndex", ("cosine", "euclidean"))
        sparse = sp.issparse(x)
        self.n_rows_, self.n_features_ = x.shape
        self.algorithm_ = resolve_algorithm(self.algorithm, self.n_rows_, self.n_features_, sparse)
        logger.info("neighbour index: %s over %d rows x %d features (%s)", self.algorithm_, self.n_rows_,
                    self.n_features_, self.metric)
        if self.algorithm_ == "hnsw":
            import faiss

            self._index = faiss.IndexHNSWFlat(self.n_features_, 16)
            self._index.hnsw.efConstruction = 40
            for start in self._blocks(self.n_rows_, "indexing", _BLOCK * 16):
                self._index.add(self._prepared(x[start : start + _BLOCK * 16], np.float32))
        else:
            from sklearn.neighbors import NearestNeighbors

            tree = self.algorithm_ == "tree"
            metric = "euclidean" if tree else self.metric
            self._index = NearestNeighbors(metric=metric, algorithm="kd_tree" if tree else "brute")
            self._index.fit(self._prepared(x, None) if tree else x)
        return self

    def query(self, k: int, x: Any = None) -> np.ndarray:
        """Indices ``(n_query, k)`` (int64, nearest first) of the ``k`` nearest fitted rows.

        Args:
            k: neighbours per row; with ``x=None`` at most ``n_rows_ - 1``, otherwise at most ``n_rows_``.
            x: new rows ``(n_query, n_features)``; None: every fitted row, leaving the row itself out.
        """
        if not hasattr(self, "algorithm_"):
            raise MLMLError("This NeighbourIndex is not fitted yet: call fit(X) first.")
        k = check_positive_int(k, "k", "NeighbourIndex.query")
        own = x is None
        limit = self.n_rows_ - 1 if own else self.n_rows_
        if k > limit:
            raise MLMLError(f"NeighbourIndex.query: k = {k} neighbours asked of {self.n_rows_} indexed rows.")
        n_query = self.n_rows_ if own else x.shape[0]
        if not own and x.shape[1] != self.n_features_:
            raise MLMLError(f"'x' has {x.shape[1]} columns; the index holds {self.n_features_}.")
        out = np.empty((n_query, k), dtype=np.int64)
        for start in self._blocks(n_query, "neighbours", _BLOCK):
            stop = min(start + _BLOCK, n_query)
            out[start:stop] = self._query_block(k, None if own else x[start:stop], start, stop)
        return out

    # -- internals
    def _query_block(self, k: int, x: Any, start: int, stop: int) -> np.ndarray:
        own = x is None
        if self.algorithm_ == "hnsw":
            query = self._index.reconstruct_n(start, stop - start) if own else self._prepared(x, np.float32)
            self._index.hnsw.efSearch = max(64, 2 * (k + 1))
            _, found = self._index.search(np.ascontiguousarray(query, dtype=np.float32), k + 1 if own else k)
            return _drop_self(found, np.arange(start, stop), k) if own else found
        if own:  # scikit-learn's leave-one-out query of fitted rows, on a block of them
            return self._fitted_neighbours(k, start, stop)
        query = self._prepared(x, None) if self.algorithm_ == "tree" else x
        return self._index.kneighbors(query, n_neighbors=k, return_distance=False)

    def _fitted_neighbours(self, k: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``kneighbors()`` without X: each fitted row's ``k`` neighbours, itself excluded
        (scikit-learn queries ``k + 1`` and removes the row, or the first neighbour where the row is not among
        them; so does this)."""
        fitted = self._index._fit_X[start:stop]
        found = self._index.kneighbors(fitted, n_neighbors=k + 1, return_distance=False)
        return _drop_self(found, np.arange(start, stop), k)

    def _prepared(self, x: Any, dtype: Any) -> np.ndarray:
        out = np.array(x, dtype=dtype or np.result_type(x.dtype, np.float32), copy=True)
        if self.metric == "cosine":
            norm = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norm, out=out, where=norm > 0)
        return out

    def _blocks(self, n: int, what: str, step: int) -> range:
        if self.progress and n > step:
            from tqdm.auto import tqdm

            return tqdm(range(0, n, step), desc=what, unit="block", leave=False)  # type: ignore[return-value]
        return range(0, n, step)


def _drop_self(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Remove each row's own index from its ``k + 1`` neighbours (where the row is absent -- an exact duplicate
    came first -- the first one, as scikit-learn does; an approximate search may return -1 for a neighbour it did
    not find, which is dropped)."""
    found = np.asarray(found, dtype=np.int64)
    drop = found == rows[:, None]
    drop |= found < 0
    missing = drop.sum(axis=1) == 0
    drop[missing, 0] = True
    keep = ~drop
    # rows that dropped more than one entry (several -1) are padded with their last kept neighbour
    counts = keep.sum(axis=1)
    if (counts >= k).all():
        first = np.cumsum(keep, axis=1) <= k
        return found[keep & first].reshape(len(found), k)
    out = np.empty((len(found), k), dtype=np.int64)
    for i, (row, mask) in enumerate(zip(found, keep)):
        kept = row[mask][:k]
        if kept.size == 0:
            raise MLMLError("The approximate neighbour search found no neighbour for a row; use algorithm='brute'.")
        out[i] = np.concatenate([kept, np.repeat(kept[-1:], k - kept.size)])
    return out
