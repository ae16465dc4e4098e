"""Best bin estimation (BBE) of a mixture proportion on binned scores: step 2 of :func:`mlml.diagnose.diagnose`.

Garg et al., "Mixture Proportion Estimation and PU Learning: A Modern Approach", NeurIPS 2021, Algorithm 1;
authors' code acmi-lab/PU_learning, ``estimator.py``, ``BBE_estimator`` and ``DKW_bound``. Scores are binned at
``N_BINS`` quantiles so that the bootstrap of :func:`mlml.diagnose.diagnose` re-counts bins instead of re-sorting;
:func:`_missing_shares` turns a label's ``α̂`` into its missing share, and :func:`_weighted_quantile` is the
overall estimate's quantile of the per-label ones (the formulas are in :mod:`mlml.diagnose`'s docstring).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

#: Score quantiles per label (the bins of the mixture-proportion estimate and its bootstrap).
N_BINS = 256
#: BBE's confidence parameters (Garg et al. 2021: δ = 0.1, γ = 0.01).
BBE_DELTA = 0.1
BBE_GAMMA = 0.01


def _score_bins(score: np.ndarray) -> np.ndarray:
    """Bin index of each row, 0 the highest scores, at up to ``N_BINS`` quantiles."""
    return _bins_at(np.quantile(score, np.linspace(0, 1, N_BINS + 1)[1:-1]), score)


def _score_bins_columns(scores: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """:func:`_score_bins` of each of ``scores``' ``columns`` at once, ``(n_rows, len(columns))``: one quantile
    call for every column (the same order statistics and interpolation as one call a column, so the same bins;
    a call a label was a fifth of ``diagnose``'s time on medical's 45 labels)."""
    scores = scores[:, columns]
    quantiles = np.quantile(scores, np.linspace(0, 1, N_BINS + 1)[1:-1], axis=0)
    out = np.empty(scores.shape, dtype=np.int64)
    for i in range(scores.shape[1]):
        out[:, i] = _bins_at(quantiles[:, i], scores[:, i])
    return out


def _bins_at(quantiles: np.ndarray, score: np.ndarray) -> np.ndarray:
    edges = np.unique(quantiles)
    return (edges.size - np.searchsorted(edges, score, side="right")).astype(np.int64)


def bbe_mixture_proportion(
    positive_counts: np.ndarray, unlabelled_counts: np.ndarray, *, delta: float = BBE_DELTA, gamma: float = BBE_GAMMA
) -> float:
    """BBE (Garg et al. 2021, Algorithm 1): the share of positives among the unlabelled rows.

    Args:
        positive_counts: ``(n_bins,)`` (weighted) counts of the labelled positives per score bin, bin 0 the top.
        unlabelled_counts: ``(n_bins,)`` the same for the unlabelled rows.

    Returns:
        ``α̂ = q_u(t̂) / q_p(t̂)`` in [0, 1], ``t̂`` minimising ``(q_u(t) + (1 + γ) ε) / q_p(t)`` with
        ``ε = √(log(1/δ) / 2 n_u) + √(log(1/δ) / 2 n_p)`` (the authors' ``DKW_bound``); NaN when either set
        is empty.
    """
    alpha = _bbe_rows(np.atleast_2d(np.asarray(positive_counts, dtype=np.float64)),
                      np.atleast_2d(np.asarray(unlabelled_counts, dtype=np.float64)), delta, gamma)
    return float(alpha[0])


def _bbe_rows(pos: np.ndarray, unl: np.ndarray, delta: float = BBE_DELTA, gamma: float = BBE_GAMMA) -> np.ndarray:
    """:func:`bbe_mixture_proportion` for each row of ``(n_replicates, n_bins)`` count tables at once."""
    n_p, n_u = pos.sum(axis=1), unl.sum(axis=1)
    out = np.full(pos.shape[0], np.nan)
    ok = (n_p > 0) & (n_u > 0)
    if not ok.any():
        return out
    pos, unl, n_p, n_u = pos[ok], unl[ok], n_p[ok, None], n_u[ok, None]
    q_p = np.cumsum(pos, axis=1) / n_p
    q_u = np.cumsum(unl, axis=1) / n_u
    eps = np.sqrt(math.log(1 / delta) / (2 * n_u)) + np.sqrt(math.log(1 / delta) / (2 * n_p))
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(q_p > 0, (q_u + (1 + gamma) * eps) / q_p, np.inf)
        best = np.argmin(bound, axis=1)
        rows = np.arange(best.size)
        out[ok] = np.minimum(1.0, q_u[rows, best] / q_p[rows, best])
    return out


def _missing_shares(bins: np.ndarray, positive: np.ndarray, suspect: np.ndarray,
                    weights: np.ndarray | None, delta: float = BBE_DELTA) -> np.ndarray:
    """One label's missing share ``h / (n + h)``, ``h = α̂ · #suspect zeros``, for each column of ``weights``
    (``(n_samples, n_replicates)`` bootstrap weights; None: the data as given, one value); ``delta`` is BBE's."""
    bins = bins.astype(np.int64)
    n_bins = int(bins.max()) + 1
    rows = np.flatnonzero(positive | suspect)
    columns = bins[rows] + n_bins * suspect[rows]
    if weights is None:  # the same (whole-number) counts as the column sums, without the sparse matrix
        counts = np.bincount(columns, minlength=2 * n_bins).astype(np.float64).reshape(1, -1)
    else:
        onehot = sp.csr_matrix((np.ones(rows.size), (rows, columns)), shape=(bins.size, 2 * n_bins))
        counts = np.asarray(onehot.T.tocsr() @ weights).T
    pos, unl = counts[:, :n_bins], counts[:, n_bins:]
    alpha = _bbe_rows(pos, unl, delta)
    n_pos, n_unl = pos.sum(axis=1), unl.sum(axis=1)
    hidden = alpha * n_unl
    with np.errstate(divide="ignore", invalid="ignore"):
        share = hidden / (hidden + n_pos)
    share[(n_unl == 0) & (n_pos > 0)] = 0.0  # no suspect zero: nothing can be missing
    return share


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    keep = np.isfinite(values)
    values, weights = values[keep], np.asarray(weights, dtype=np.float64)[keep]
    if values.size == 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][min(int(np.searchsorted(cumulative, q)), values.size - 1)])


def _bootstrap_interval(estimate: float, replicates: np.ndarray, confidence: float, kind: str) -> tuple[float, float]:
    """The interval of ``estimate`` from its bootstrap ``replicates`` (NaN ones dropped; none: the estimate itself).

    ``"percentile"``: the ``(1 ∓ confidence) / 2`` percentiles. ``"union"``: the union of the percentile interval
    and the basic (reflected) one, ``[2θ̂ − q_hi, 2θ̂ − q_lo]``. Why the union for ``bbe-tightest``: its estimate is
    a minimum (over kinds of evidence, and a low quantile over labels), and the bootstrap of a minimum is not
    consistent (Andrews, "Inconsistency of the bootstrap when a parameter is on the boundary of the parameter
    space", Econometrica 2000): replicates' minima fall below the estimate, so the percentile interval lies under
    it and the reflected one above; each alone covered the truth in 49-80 % of the simulated cells, the union in
    94 % (``benchmarks/bench_diagnose.py``). Clipped to [0, 1].
    """
    replicates = replicates[np.isfinite(replicates)]
    if not replicates.size or not math.isfinite(estimate):
        return estimate, estimate
    tail = (1 - confidence) / 2
    low, high = float(np.quantile(replicates, tail)), float(np.quantile(replicates, 1 - tail))
    if kind == "union":
        low, high = min(low, 2 * estimate - high), max(high, 2 * estimate - low)
    return max(0.0, min(low, estimate)), min(1.0, max(high, estimate))
