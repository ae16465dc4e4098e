"""Validation scores on OBSERVED labels, for early stopping and model selection (fast, numpy only).

These look only at what a user has: the observed labels of the validation rows carved from the training
fold. Missing positives count as the negatives they appear to be; ``-1`` entries are left out.

Large validation sets (hundreds of thousands of rows, thousands of labels) are scored a block of classes (AP) or
of rows (BCE) at a time, so that the temporary arrays stay within ``BLOCK_ENTRIES`` entries; the values are the
same as in one piece.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Entries (rows x classes) of one block of the computations below.
BLOCK_ENTRIES = 1 << 22


def defined_classes(observed: np.ndarray | sp.spmatrix) -> np.ndarray:
    """Boolean ``(n_labels,)``: the classes with at least one observed positive and one known non-positive (a 0
    or a verified negative, 2) among the rows, dense or CSR (nothing is densified)."""
    if sp.issparse(observed):
        csr = sp.csr_matrix(observed)
        n_labels = csr.shape[1]
        positives = np.bincount(csr.indices[csr.data == 1], minlength=n_labels)
        unknown = np.bincount(csr.indices[csr.data == -1], minlength=n_labels)
        return (positives > 0) & (csr.shape[0] - positives - unknown > 0)
    observed = np.asarray(observed)
    positive = observed == 1
    return positive.any(axis=0) & ((observed != -1) & ~positive).any(axis=0)


def observed_map(scores: np.ndarray, observed: np.ndarray) -> float:
    """Mean AP over the classes with at least one observed positive and one observed negative.

    AP is :func:`mlml.evaluation.ranking_metrics`'s (scikit-learn's definition; tied scores form one
    threshold, so the value does not depend on the order of the rows).

    Args:
        scores: ``(n_samples, n_labels)`` probabilities or logits.
        observed: int8 ``(n_samples, n_labels)``, dense or CSR: 1, 0 or -1 (left out).

    Returns:
        The mean over the defined classes, or NaN when no class is defined.
    """
    from mlml.evaluation import ranking_metrics

    defined = np.flatnonzero(defined_classes(observed))
    if not defined.size:
        return float("nan")
    step = max(1, BLOCK_ENTRIES // max(observed.shape[0], 1))
    ap = []
    for start in range(0, defined.size, step):
        columns = defined[start : start + step]
        part = observed[:, columns]
        part = part.toarray() if sp.issparse(part) else part
        known = part != -1
        values, _ = ranking_metrics(scores[:, columns], part == 1, known)
        ap.append(values)
    return float(np.mean(np.concatenate(ap)))


def observed_bce(probabilities: np.ndarray, observed: np.ndarray, *, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy over the known (not -1) entries (``observed`` dense or CSR)."""
    total, count = 0.0, 0
    step = max(1, BLOCK_ENTRIES // max(observed.shape[1], 1))
    if observed.shape[0] <= step:  # one piece: the summation order of before
        observed = observed.toarray() if sp.issparse(observed) else observed
        known = observed != -1
        p = np.clip(probabilities[known].astype(np.float64), eps, 1 - eps)
        y = observed[known] == 1
        return float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))) if known.any() else float("nan")
    for start in range(0, observed.shape[0], step):
        part = observed[start : start + step]
        part = part.toarray() if sp.issparse(part) else part
        known = part != -1
        p = np.clip(probabilities[start : start + step][known].astype(np.float64), eps, 1 - eps)
        total += float(-np.sum(np.where(part[known] == 1, np.log(p), np.log1p(-p))))
        count += int(known.sum())
    return total / count if count else float("nan")
