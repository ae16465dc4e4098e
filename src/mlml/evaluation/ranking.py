"""Ranking metrics of extreme classification: P@k, nDCG@k and the propensity-scored PSP@k and PSnDCG@k.

Everything here works on the top ``k`` labels of each row -- an int ``(n_samples, k)`` array of label indices,
best first (:func:`top_k`, or ``TrainedModel.predict_topk``) -- and the true labels as CSR (or dense), so that no
dense ``n_samples x n_labels`` score matrix is needed. With ``hit_ij = 1`` when the ``j``-th label ranked for row
``i`` is a true positive (``j = 1..k``), ``n_i`` the row's number of positives, ``w_l = 1 / p_l`` the inverse
propensity of label ``l`` (:mod:`mlml.propensity`) and ``N`` the number of rows::

    P@k       = (1/N) Σ_i (1/k) Σ_{j≤k} hit_ij
    nDCG@k    = (1/N) Σ_i DCG_i / IDCG_i,        DCG_i = Σ_{j≤k} hit_ij / log2(j + 1),
                                                  IDCG_i = Σ_{j ≤ min(k, n_i)} 1 / log2(j + 1)
    PSP@k     = Σ_i Σ_{j≤k} hit_ij w_{l_ij}  /  Σ_i Σ_{j ≤ min(k, n_i)} w*_ij
    PSnDCG@k  = Σ_i (Σ_{j≤k} hit_ij w_{l_ij} / log2(j + 1)) / IDCG_i
                /  Σ_i (Σ_{j ≤ min(k, n_i)} w*_ij / log2(j + 1)) / IDCG_i

where ``w*_i1 ≥ w*_i2 ≥ ...`` are the inverse propensities of row ``i``'s true labels, largest first: the
propensity-scored metrics are normalised by the best value any ranking could achieve, as the XC repository's
tools (pyxclib's ``psprecision`` and ``psndcg``) report them. A row without positives counts in ``N`` with 0 (it
adds nothing to either sum of the PS metrics); a PS metric whose best value is 0 (no positive anywhere) is NaN.
``P@k`` divides by ``k`` even when fewer than ``k`` labels exist.

Ties: :func:`top_k` orders labels by decreasing score, equal scores by increasing label index, so the result does
not depend on the sort algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from mlml.exceptions import MLMLError

#: The cut-offs reported by default (the XC repository's tables).
DEFAULT_KS: tuple[int, ...] = (1, 3, 5)
#: The metric families, as key prefixes: ``p_at_3``, ``psndcg_at_5``, ...
RANKING_FAMILIES: tuple[str, ...] = ("p", "ndcg", "psp", "psndcg")


def ranking_keys(ks: Sequence[int] = DEFAULT_KS) -> tuple[str, ...]:
    """The result keys for the cut-offs ``ks``: ``p_at_1, p_at_3, ..., psndcg_at_5``."""
    return tuple(f"{family}_at_{k}" for family in RANKING_FAMILIES for k in ks)


def top_k(scores: np.ndarray, k: int, *, scored: np.ndarray | None = None) -> np.ndarray:
    """The indices of the ``k`` best scores of every row, best first; ties by increasing label index.

    Args:
        scores: float ``(n_samples, n_labels)`` (one batch of rows; call it per batch for large sets).
        k: how many (at most ``n_labels`` are returned).
        scored: optional boolean ``(n_samples, n_labels)``; entries where it is False are ranked last.

    Returns:
        int64 ``(n_samples, min(k, n_labels))``.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise MLMLError(f"top_k takes a 2-D score matrix. Got shape {scores.shape}.")
    n, n_labels = scores.shape
    k = min(int(k), n_labels)
    if k < 1 or n == 0:
        return np.empty((n, max(k, 0)), dtype=np.int64)
    key = scores.astype(np.float64, copy=scored is not None)
    if scored is not None:
        key[~np.asarray(scored, dtype=bool)] = -np.inf
    if k == n_labels:
        chosen = np.broadcast_to(np.arange(n_labels), (n, n_labels))
    else:
        # the k-th largest value of each row; everything above it is in, ties at it by lowest index
        kth = -np.partition(-key, k - 1, axis=1)[:, k - 1 : k]
        above = key > kth
        tied = key == kth
        room = k - above.sum(axis=1, keepdims=True)
        selected = above | (tied & (np.cumsum(tied, axis=1) <= room))
        chosen = np.nonzero(selected)[1].reshape(n, k)  # ascending label index within each row
    values = np.take_along_axis(key, chosen, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")  # stable: equal values keep the lower index first
    return np.take_along_axis(chosen, order, axis=1).astype(np.int64, copy=False)


def _positives_csr(y_true: object) -> sp.csr_matrix:
    """The positive entries (value 1) of a label matrix as a sorted boolean CSR."""
    if sp.issparse(y_true):
        matrix = sp.csr_matrix(y_true)
        keep = matrix.data == 1
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[keep]
        cols = matrix.indices[keep]
    else:
        dense = np.asarray(y_true)
        if dense.ndim != 2:
            raise MLMLError(f"The true labels must be 2-D (n_samples, n_labels). Got shape {dense.shape}.")
        rows, cols = np.nonzero(dense == 1)
    out = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=y_true.shape)
    out.sort_indices()
    return out


def hits(top: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(n_samples, k)``: whether ``top[i, j]`` is a positive of row ``i`` (a sorted-key lookup)."""
    n, k = top.shape
    n_labels = truth.shape[1]
    rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
    keys = rows * n_labels + truth.indices.astype(np.int64)  # sorted: CSR rows in order, indices sorted
    query = (np.arange(n, dtype=np.int64)[:, None] * n_labels + top).ravel()
    where = np.searchsorted(keys, query)
    found = where < keys.size
    found[found] = keys[where[found]] == query[found]
    return found.reshape(n, k)


def _best_weights(truth: sp.csr_matrix, inverse: np.ndarray, k: int) -> np.ndarray:
    """``(n_samples, k)``: the ``k`` largest inverse propensities among each row's positives (0 beyond ``n_i``)."""
    n = truth.shape[0]
    rows = np.repeat(np.arange(n), np.diff(truth.indptr))
    weights = inverse[truth.indices]
    order = np.lexsort((-weights, rows))
    rank = np.arange(len(order)) - truth.indptr[rows[order]]
    keep = rank < k
    out = np.zeros((n, k))
    out[rows[order][keep], rank[keep]] = weights[order][keep]
    return out


def ranking_metrics_topk(
    top: np.ndarray,
    y_true: object,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    propensity: np.ndarray | None = None,
    scored: object = None,
) -> dict[str, float]:
    """P@k, nDCG@k, PSP@k and PSnDCG@k from the top labels of every row (see the module docstring).

    Args:
        top: int ``(n_samples, K)`` label indices, best first, ``K >= max(ks)`` unless there are fewer labels.
        y_true: the true labels ``(n_samples, n_labels)``, dense or CSR; entries equal to 1 are the positives.
        ks: the cut-offs.
        propensity: ``(n_labels,)`` label propensities ``p_l`` in (0, 1] (e.g. from the training labels,
            :func:`mlml.propensity.label_propensity`); None: computed from ``y_true`` itself.
        scored: optional boolean mask ``(n_samples, n_labels)`` (dense or sparse) of the entries that count as
            labels at all (positives outside it are ignored).

    Returns:
        ``{"p_at_1": ..., "ndcg_at_1": ..., "psp_at_1": ..., "psndcg_at_1": ..., ...}`` for every ``k``.

    Raises:
        MLMLError: shapes that disagree, too few ranked labels, label indices out of range, bad propensities.
    """
    from mlml.propensity import label_propensity

    truth = _positives_csr(y_true)
    if scored is not None:
        truth = truth.multiply(sp.csr_matrix(scored, dtype=bool)).tocsr().astype(bool)
        truth.sort_indices()
    n, n_labels = truth.shape
    top = np.asarray(top)
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise MLMLError(f"The cut-offs 'ks' must be integers >= 1. Got {list(ks)!r}.")
    if top.ndim != 2 or top.shape[0] != n or not np.issubdtype(top.dtype, np.integer):
        raise MLMLError(f"'top' must be an integer array with one row per sample ({n}). Got {top.dtype} "
                        f"{top.shape}.")
    width = min(ks[-1], n_labels)
    if top.shape[1] < width:
        raise MLMLError(f"'top' ranks {top.shape[1]} labels per row; the cut-off k={ks[-1]} needs {width}.")
    top = top[:, :width]
    if top.size and (top.min() < 0 or top.max() >= n_labels):
        raise MLMLError(f"'top' holds label indices outside [0, {n_labels}).")
    if propensity is None:
        propensity = label_propensity(truth.astype(np.int8)) if n else np.ones(n_labels)
    propensity = np.asarray(propensity, dtype=np.float64).ravel()
    if propensity.shape != (n_labels,) or not np.all((propensity > 0) & (propensity <= 1)):
        raise MLMLError(f"'propensity' must hold {n_labels} values in (0, 1].")
    inverse = 1.0 / propensity

    hit = hits(top, truth).astype(np.float64)
    gained = hit * inverse[top]
    discount = 1.0 / np.log2(np.arange(2, width + 2))
    n_pos = np.diff(truth.indptr)
    best = _best_weights(truth, inverse, width)
    ideal_cumulative = np.concatenate([[0.0], np.cumsum(discount)])
    out: dict[str, float] = {}
    n_rows = max(n, 1)
    for k in ks:
        kk = min(k, width)
        idcg = ideal_cumulative[np.minimum(n_pos, kk)]
        has = idcg > 0
        safe = np.where(has, idcg, 1.0)
        out[f"p_at_{k}"] = float(hit[:, :kk].sum() / k / n_rows)
        dcg = hit[:, :kk] @ discount[:kk]
        out[f"ndcg_at_{k}"] = float(np.sum(np.where(has, dcg / safe, 0.0)) / n_rows)
        best_sum = best[:, :kk].sum()
        out[f"psp_at_{k}"] = float(gained[:, :kk].sum() / best_sum) if best_sum > 0 else float("nan")
        ps_dcg = np.where(has, (gained[:, :kk] @ discount[:kk]) / safe, 0.0).sum()
        ps_ideal = np.where(has, (best[:, :kk] @ discount[:kk]) / safe, 0.0).sum()
        out[f"psndcg_at_{k}"] = float(ps_dcg / ps_ideal) if ps_ideal > 0 else float("nan")
    return {key: out[key] for key in ranking_keys(ks)}


def ranking_metrics_dense(
    y_true: object,
    scores: np.ndarray,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    propensity: np.ndarray | None = None,
    scored: np.ndarray | None = None,
    batch_rows: int = 8192,
) -> dict[str, float]:
    """:func:`ranking_metrics_topk` of a dense score matrix, its top labels taken ``batch_rows`` rows at a time."""
    scores = np.asarray(scores)
    k = max(ks)
    parts = [
        top_k(scores[start : start + batch_rows], k,
              scored=None if scored is None else scored[start : start + batch_rows])
        for start in range(0, scores.shape[0], batch_rows)
    ]
    top = np.concatenate(parts) if parts else np.empty((0, min(k, scores.shape[1])), dtype=np.int64)
    return ranking_metrics_topk(top, y_true, ks=ks, propensity=propensity, scored=scored)
