"""Per-class decision thresholds tuned for F1 on a validation split (observed labels only)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from numpy.typing import ArrayLike

from mlml.evaluation.metrics import UndefinedMetricWarning, _prepare
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, LabelMatrix

#: Threshold given to a class whose F1 cannot be tuned (no scored positive, or F1 = 0 at every candidate).
FALLBACK_THRESHOLD = 0.5


def threshold_grid(grid: int | ArrayLike = 99) -> np.ndarray:
    """The candidate thresholds: ``k`` evenly spaced values ``1/(k+1), ..., k/(k+1)`` for an int ``k``, or the
    sorted unique values of an explicit array (finite)."""
    if isinstance(grid, numbers.Integral) and not isinstance(grid, bool):
        if grid < 1:
            raise MLMLError(
                f"The 'grid' parameter of tune_thresholds must be an int >= 1. Got {grid!r} instead."
            )
        return np.arange(1, int(grid) + 1) / (int(grid) + 1)
    try:
        values = np.unique(np.asarray(grid, dtype=np.float64).ravel())
    except (TypeError, ValueError):
        values = np.empty(0)
    if values.size == 0 or not np.isfinite(values).all():
        raise MLMLError(
            "The 'grid' parameter of tune_thresholds must be an int >= 1 or a non-empty array of finite "
            f"thresholds. Got {grid!r} instead."
        )
    return values


def f1_curves(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``(n_labels, n_candidates)`` F1 of each class at each candidate threshold (``score >= t`` predicts positive).

    ``positive`` and ``negative`` weigh each entry as a positive and as a negative: 0/1 indicators give the
    F1 on those labels; soft weights ``(t, 1 − t)`` give the plug-in expected F1 ``2 E[TP] / (2 E[TP] + E[FP] +
    E[FN])``. Each entry is binned once by ``searchsorted`` against the candidates, and the per-class TP/FP at every
    candidate are reverse cumulative sums of the weighted bin counts: ``O(n · C · log G + C · G)``, no Python loop.
    """
    n_labels, n_cand = scores.shape[1], candidates.size
    # bins[i, c] = number of candidates t with t <= s[i, c]: the entry is predicted positive at candidates
    # 0 .. bins-1. Summing the weights per (class, bin) and over the bins above j gives TP/FP at candidate j.
    bins = np.searchsorted(candidates, scores, side="right")
    flat_index = (bins + (n_cand + 1) * np.arange(n_labels)).ravel()
    size = n_labels * (n_cand + 1)
    pos_hist = np.bincount(flat_index, weights=positive.ravel(), minlength=size).reshape(n_labels, n_cand + 1)
    neg_hist = np.bincount(flat_index, weights=negative.ravel(), minlength=size).reshape(n_labels, n_cand + 1)
    tp = np.cumsum(pos_hist[:, ::-1], axis=1)[:, ::-1][:, 1:]  # (n_labels, n_cand): entries with bin > j
    fp = np.cumsum(neg_hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    support = positive.sum(axis=0)[:, None]
    denominator = tp + fp + support  # = 2TP + FP + FN
    return np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 1e-12)


def tune_thresholds(
    y_true: LabelMatrix,
    scores: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    grid: int | ArrayLike = 99,
) -> np.ndarray:
    """Per-class thresholds that maximise each class's F1 on the scored entries.

    For every class ``c`` and candidate ``t`` (``score >= t`` is a predicted positive, as in
    :func:`mlml.evaluation.evaluate`), ``F1_c(t) = 2 TP / (2 TP + FP + FN)`` over the entries with
    ``y_true != -1`` and ``mask``; the chosen threshold maximises it. Ties between candidates go to the one
    closest to 0.5 (then the smaller), so a flat F1 curve keeps the paper's default.

    Fallback: a class with no scored positive, or whose F1 is 0 at every candidate, gets
    ``FALLBACK_THRESHOLD`` (0.5) and an :class:`~mlml.evaluation.UndefinedMetricWarning` counts such classes.

    Use it on a validation split with OBSERVED labels (hidden positives there look like negatives, exactly
    as at training time); never on the test fold.

    All classes are tuned at once: each scored entry is binned once by ``searchsorted`` against the grid and
    the per-class TP/FP counts at every candidate are reverse cumulative sums of the bin counts, so the cost
    is ``O(n_samples · n_labels · log G + n_labels · G)`` with no Python loop over classes or entries.

    Args:
        y_true: labels ``(n_samples, n_labels)``, int8, ``1``/``0``/``-1`` (ignored).
        scores: predicted probabilities, ``(n_samples, n_labels)``.
        mask: optional boolean ``(n_samples, n_labels)`` of entries to use.
        grid: an int ``k`` (``k`` evenly spaced candidates in (0, 1): ``1/(k+1), ..., k/(k+1)``; the default
            99 gives 0.01, ..., 0.99) or an explicit array of candidate thresholds.

    Returns:
        float64 ``(n_labels,)`` thresholds, each one of the candidates or the fallback.
    """
    y, s, scored = _prepare(y_true, scores, mask, owner="tune_thresholds")
    candidates = threshold_grid(grid)
    n_labels = y.shape[1]
    positive = (y == POSITIVE) & scored
    f1 = f1_curves(s, positive.astype(np.float64), (scored & ~positive).astype(np.float64), candidates)

    best = f1.max(axis=1, keepdims=True)
    # Among the maximisers, prefer the candidate closest to 0.5, then the smaller one.
    distance = np.where(np.isclose(f1, best, rtol=0, atol=1e-12), np.abs(candidates - 0.5), np.inf)
    choice = np.argmin(distance, axis=1)
    thresholds = candidates[choice]
    untuned = best[:, 0] <= 0
    thresholds[untuned] = FALLBACK_THRESHOLD
    if untuned.any():
        warnings.warn(
            f"tune_thresholds: {int(untuned.sum())} of {n_labels} classes have no scored positive or "
            f"F1 = 0 at every candidate; they keep the fallback threshold {FALLBACK_THRESHOLD}.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    return thresholds
