"""Validation scores on OBSERVED labels, for early stopping and model selection (fast, numpy only).

These look only at what a user has: the observed labels of the validation rows carved from the training
fold. Missing positives count as the negatives they appear to be; ``-1`` entries are left out.
"""

from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Non-interpolated AP of one class: mean over the positives of the precision at their rank.

    Ties are broken by a stable sort on the negated scores (the order of the rows); scikit-learn's
    ``average_precision_score`` treats tied scores as one threshold, which can differ slightly on ties.
    Returns NaN when there is no positive.
    """
    n_pos = int(positives.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positives[order]
    ranks = np.flatnonzero(hits) + 1.0
    return float(np.mean(np.arange(1, n_pos + 1) / ranks))


def observed_map(scores: np.ndarray, observed: np.ndarray) -> float:
    """Mean AP over the classes with at least one observed positive and one observed negative.

    Args:
        scores: ``(n_samples, n_labels)`` probabilities or logits.
        observed: int8 ``(n_samples, n_labels)``: 1, 0 or -1 (left out).

    Returns:
        The mean over the defined classes, or NaN when no class is defined.
    """
    aps = []
    for c in range(observed.shape[1]):
        known = observed[:, c] != -1
        pos = observed[known, c] == 1
        if pos.any() and not pos.all():
            aps.append(average_precision(scores[known, c], pos))
    return float(np.mean(aps)) if aps else float("nan")


def observed_bce(probabilities: np.ndarray, observed: np.ndarray, *, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy over the known (not -1) entries."""
    known = observed != -1
    p = np.clip(probabilities[known].astype(np.float64), eps, 1 - eps)
    y = observed[known] == 1
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))) if known.any() else float("nan")
