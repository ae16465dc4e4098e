"""Validation scores on OBSERVED labels, for early stopping and model selection (fast, numpy only).

These look only at what a user has: the observed labels of the validation rows carved from the training
fold. Missing positives count as the negatives they appear to be; ``-1`` entries are left out.
"""

from __future__ import annotations

import numpy as np


def observed_map(scores: np.ndarray, observed: np.ndarray) -> float:
    """Mean AP over the classes with at least one observed positive and one observed negative.

    AP is :func:`mlml.evaluation.ranking_metrics`'s (scikit-learn's definition; tied scores form one
    threshold, so the value does not depend on the order of the rows).

    Args:
        scores: ``(n_samples, n_labels)`` probabilities or logits.
        observed: int8 ``(n_samples, n_labels)``: 1, 0 or -1 (left out).

    Returns:
        The mean over the defined classes, or NaN when no class is defined.
    """
    from mlml.evaluation import ranking_metrics

    known = observed != -1
    positive = observed == 1
    defined = positive.any(axis=0) & (known & ~positive).any(axis=0)
    if not defined.any():
        return float("nan")
    ap, _ = ranking_metrics(scores[:, defined], positive[:, defined], known[:, defined])
    return float(np.mean(ap))


def observed_bce(probabilities: np.ndarray, observed: np.ndarray, *, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy over the known (not -1) entries."""
    known = observed != -1
    p = np.clip(probabilities[known].astype(np.float64), eps, 1 - eps)
    y = observed[known] == 1
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))) if known.any() else float("nan")
