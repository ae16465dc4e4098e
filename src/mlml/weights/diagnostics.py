"""How well a negative weight finds the hidden positives (a labels-only check of an estimator)."""

from __future__ import annotations

import numpy as np

from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix, check_labels, to_dense


def hidden_positive_detection(neg_weight: np.ndarray, observed: LabelMatrix, hidden: LabelMatrix) -> dict:
    """Score ``1 − ω̄`` as a detector of the hidden positives among the zero entries of ``observed``.

    Args:
        neg_weight: ``(n_samples, n_labels)`` ω̄ from an estimator's ``transform``.
        observed: ``(n_samples, n_labels)`` the observed labels the weights were computed for.
        hidden: ``(n_samples, n_labels)`` bool, the hidden positives (each must be 0 in ``observed``).

    Returns:
        ``{"auc", "ap", "n_hidden", "n_candidates"}``: ROC-AUC and average precision (scikit-learn) of
        ``1 − ω̄`` over the candidates (entries with ``observed == 0``), with truth ``hidden``; AUC and AP are
        NaN when the candidates hold no hidden positive or nothing else.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    observed = to_dense(check_labels(observed, name="observed"))
    hidden = to_dense(check_labels(hidden, name="hidden", allow_unknown=False)).astype(bool)
    neg_weight = np.asarray(neg_weight, dtype=np.float64)
    if neg_weight.shape != observed.shape or hidden.shape != observed.shape:
        raise MLMLError(
            f"neg_weight {neg_weight.shape}, observed {observed.shape} and hidden {hidden.shape} must have "
            "the same shape."
        )
    if np.any(hidden & (observed != 0)):
        i, c = np.argwhere(hidden & (observed != 0))[0]
        raise MLMLError(
            f"hidden entry ({i}, {c}) is {observed[i, c]} in observed; hidden positives must be 0."
        )
    candidates = observed == 0
    truth, score = hidden[candidates], 1.0 - neg_weight[candidates]
    if not np.all(np.isfinite(score)):
        raise MLMLError("neg_weight holds non-finite values on the candidate entries.")
    defined = 0 < truth.sum() < truth.size
    return {
        "auc": float(roc_auc_score(truth, score)) if defined else float("nan"),
        "ap": float(average_precision_score(truth, score)) if defined else float("nan"),
        "n_hidden": int(truth.sum()),
        "n_candidates": int(truth.size),
    }
