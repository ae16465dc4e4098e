"""Masked multi-label metrics: precision/recall/F1 at a threshold, ROC-AUC, average precision.

Which entries are scored
    ``y_true`` uses the mlml encoding (``1`` positive, ``0`` negative, ``2`` verified negative -- a negative here
    --, ``-1`` unknown). An entry ``(i, c)`` is *scored* when ``y_true[i, c] != -1`` and, if a ``mask`` is given,
    ``mask[i, c]`` is True. Everything else is ignored by every metric. The paper's protocol evaluates on complete
    test labels, so there every entry is scored; masks serve validation splits with observed labels and partially
    annotated data (whose test folds are scored on their annotated entries).

Thresholds
    An entry is predicted positive when ``score >= threshold`` (the convention of
    ``sklearn.metrics.precision_recall_curve``); ``threshold`` is one float or a ``(n_labels,)`` array of
    per-class thresholds (see :func:`mlml.evaluation.tune_thresholds`).

Micro metrics
    pool the scored entries of all classes: micro precision ``= ΣTP / (ΣTP + ΣFP)``, micro recall
    ``= ΣTP / (ΣTP + ΣFN)``, micro F1 their harmonic mean, micro ROC-AUC the AUC of the flattened scored
    entries (ties count one half, as in ``sklearn.metrics.roc_auc_score``).

Undefined cases (the policy)
    * A class with no scored positive has no recall: it is left out of macro precision, recall and F1
      (``per_class_f1`` is NaN there) and counted in ``n_classes_no_positives``. Over the remaining classes a
      class with no predicted positive has precision 0 (``zero_division=0``), so macro P/R/F1 equal
      ``sklearn.metrics.precision_recall_fscore_support(..., labels=<classes with positives>,
      average="macro", zero_division=0)``.
    * A class with no scored positive or no scored negative has no ROC curve and a trivial or undefined
      average precision: it is dropped from macro AP (``map``) and macro ROC-AUC (``per_class_ap`` and
      ``per_class_auc`` are NaN there), an :class:`UndefinedMetricWarning` names it, and
      ``n_classes_undefined`` counts it.
    * Micro precision/recall/F1 use ``zero_division=0``; micro AUC is NaN (with a warning) when the scored
      entries are all positive or all negative.

Ranking metrics are computed for all classes at once from one column-wise sort (no per-class or per-entry
Python loop) and agree with ``sklearn.metrics.average_precision_score`` and ``roc_auc_score`` to rounding
error, ties included; the tests check this.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mlml.evaluation.counts import DecisionCounts, _mean_or_nan
from mlml.evaluation.ranking import DEFAULT_KS, ranking_keys, ranking_metrics_dense
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, check_labels, to_dense

#: Scalar entries of :func:`evaluate`'s result (per-class entries are lists starting with ``per_class_``).
SCALAR_METRICS: tuple[str, ...] = (
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "micro_auc",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "macro_auc",
    "map",
    "n_scored",
    "n_classes",
    "n_classes_undefined",
    "n_classes_no_positives",
    # ranking metrics of extreme classification (mlml.evaluation.ranking), k = 1, 3, 5
    *ranking_keys(DEFAULT_KS),
)

#: Per-class entries of :func:`evaluate`'s result, each a list of length ``n_labels``.
PER_CLASS_METRICS: tuple[str, ...] = (
    "per_class_tp",
    "per_class_fp",
    "per_class_support",
    "per_class_f1",
    "per_class_ap",
    "per_class_auc",
)


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for some classes (no positives or no negatives) and left out of an average."""


def evaluate(
    y_true: LabelMatrix,
    scores: ArrayLike,
    *,
    threshold: float | ArrayLike = 0.5,
    mask: ArrayLike | None = None,
    ranking: bool = True,
    propensity: ArrayLike | None = None,
    label_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Multi-label metrics over the scored entries (``y_true != -1`` and ``mask``).

    Args:
        y_true: true labels, int8 ``(n_samples, n_labels)`` (dense or CSR), ``1``/``0``/``-1`` (unknown,
            ignored).
        scores: predicted probabilities, ``(n_samples, n_labels)``, finite.
        threshold: a float, a ``(n_labels,)`` array of per-class thresholds, or a ``(n_samples, n_labels)``
            array (per-sample decisions, see :mod:`mlml.evaluation.policies`); ``score >= threshold`` is a
            predicted positive.
        mask: optional boolean ``(n_samples, n_labels)``: only entries where it is True (and ``y_true`` is
            known) are scored.
        ranking: False returns the decision metrics only -- ``micro_precision``, ``micro_recall``,
            ``micro_f1``, ``macro_precision``, ``macro_recall``, ``macro_f1``, nothing else (no counts, no
            per-class lists, no AUC/AP or ranking metrics, which do not depend on the threshold) --, e.g. to score
            several decision rules on the same scores.
        propensity: ``(n_labels,)`` label propensities for PSP@k and PSnDCG@k (best from the TRAINING labels,
            :func:`mlml.propensity.label_propensity`); None: computed from the scored positives of ``y_true``.
        label_names: the classes' names, which the warnings then use instead of column indices.

    Returns:
        With ``ranking=True`` (the default) a dict with the floats ``micro_precision``, ``micro_recall``,
        ``micro_f1``, ``micro_auc``, ``macro_precision``, ``macro_recall``, ``macro_f1``, ``macro_auc``, ``map``
        (macro average precision); the ints ``n_scored`` (entries scored), ``n_classes``, ``n_classes_undefined``
        (dropped from macro AP/AUC), ``n_classes_no_positives`` (dropped from macro P/R/F1); and the per-class lists
        (length ``n_labels``) ``per_class_tp``, ``per_class_fp``, ``per_class_support`` (scored positives) as ints
        and ``per_class_f1``, ``per_class_ap``, ``per_class_auc`` as floats, NaN where undefined (see the module
        docstring for the policy). Undefined averages are NaN. Then the ranking metrics of
        :mod:`mlml.evaluation.ranking` over the scored entries: ``p_at_k``, ``ndcg_at_k``, ``psp_at_k`` and
        ``psndcg_at_k`` for k = 1, 3, 5 (e.g. ``psp_at_3``).

    Raises:
        MLMLError: shapes disagree, non-finite scores, a bad threshold or mask, or no entry is scored.

    Example:
        >>> import numpy as np
        >>> y = np.array([[1, 0], [0, -1], [1, 1]], dtype=np.int8)
        >>> p = np.array([[0.9, 0.2], [0.6, 0.5], [0.4, 0.7]])
        >>> r = evaluate(y, p)
        >>> r["micro_precision"], r["per_class_tp"]
        (0.6666666666666666, [1, 1])
    """
    y, s, scored = _prepare(y_true, scores, mask, owner="evaluate")
    n_labels = y.shape[1]
    thresholds = _check_threshold(threshold, n_labels, y.shape[0])
    if not scored.any():
        raise MLMLError(
            "evaluate has no entry to score: every entry of y_true is unknown (-1) or excluded by 'mask'."
        )
    positive = (y == POSITIVE) & scored
    negative = scored & ~positive
    counts = DecisionCounts.zeros(n_labels).update(positive, scored, s >= thresholds)
    decisions = counts.compute()
    if not ranking:
        return decisions
    support, n_negative = counts.support, counts.negatives
    has_pos = support > 0

    # Ranking metrics: defined where a class has both scored positives and scored negatives.
    defined = has_pos & (n_negative > 0)
    ap, auc = ranking_metrics(s, positive, scored)
    ap[~defined] = np.nan
    auc[~defined] = np.nan
    n_undefined = int(n_labels - defined.sum())
    if n_undefined:
        bad = np.flatnonzero(~defined)
        which = [repr(str(label_names[i])) for i in bad[:10]] if label_names is not None else list(map(str, bad[:10]))
        shown = ", ".join(which) + (", ..." if bad.size > 10 else "")
        warnings.warn(
            f"{n_undefined} of {n_labels} classes have no scored positive or no scored negative "
            f"({'classes' if label_names is not None else 'class indices'} {shown}); "
            f"they are dropped from macro AP and macro ROC-AUC (n_classes_undefined="
            f"{n_undefined}).",
            UndefinedMetricWarning,
            stacklevel=2,
        )

    n_pos_all, n_neg_all = int(support.sum()), int(n_negative.sum())
    if n_pos_all and n_neg_all:
        micro_auc = _pooled_auc(s[positive], s[negative])
    else:
        micro_auc = float("nan")
        warnings.warn(
            f"micro ROC-AUC is undefined: the {int(scored.sum())} scored entries are all "
            f"{'positive' if n_pos_all else 'negative'}.",
            UndefinedMetricWarning,
            stacklevel=2,
        )

    return {
        **decisions,
        "micro_auc": micro_auc,
        "macro_auc": _mean_or_nan(auc[defined]),
        "map": _mean_or_nan(ap[defined]),
        "n_scored": int(scored.sum()),
        "n_classes": int(n_labels),
        "n_classes_undefined": n_undefined,
        "n_classes_no_positives": int(n_labels - has_pos.sum()),
        **counts.lists(),
        "per_class_ap": ap.tolist(),
        "per_class_auc": auc.tolist(),
        **ranking_metrics_dense(y, s, scored=scored, propensity=propensity),
    }


def ranking_metrics(
    scores: np.ndarray, positive: np.ndarray, scored: np.ndarray | None = None, *, ap: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Average precision and ROC-AUC of every column at once, ties handled as scikit-learn does.

    For column ``c`` with scored entries sorted by decreasing score and grouped into ties, with ``P`` scored
    positives and ``N`` scored negatives:

    * ``AP = (1/P) Σ_{positives i} precision(end of i's tie group)`` -- the step-wise sum
      ``Σ_k (R_k − R_{k−1}) P_k`` of ``sklearn.metrics.average_precision_score``;
    * ``AUC = (1/(P N)) Σ_{positives i} [#negatives scored lower + ½ #negatives tied with i]``, computed as
      the trapezoids between consecutive vertices of the ROC curve (one vertex per tie group).

    Args:
        scores: float ``(n, C)``.
        positive: boolean ``(n, C)``, true positives among the scored entries.
        scored: boolean ``(n, C)`` of entries to use, or None for all.
        ap: compute AP (set False to skip it when only the AUC is needed).

    Returns:
        ``(ap, auc)``, float ``(C,)`` arrays; NaN for a column without scored positives (AP, AUC) or without
        scored negatives (AUC). ``ap`` is all NaN when ``ap=False``.
    """
    n, n_cols = scores.shape
    # Work column by column in a contiguous (n_cols, n) layout: each row below is one class.
    key = np.ascontiguousarray(scores.T if scored is None else np.where(scored, scores, -np.inf).T)
    pos = np.ascontiguousarray(positive.T)
    n_scored = np.full(n_cols, n) if scored is None else np.count_nonzero(scored, axis=0)
    # Decreasing score; the unscored entries (-inf) go last in every row.
    order = np.argsort(-key, axis=1)
    s_sorted = np.take_along_axis(key, order, axis=1)
    pos_sorted = np.take_along_axis(pos, order, axis=1)
    in_scored = np.arange(n) < n_scored[:, None]
    cum_tp = np.cumsum(pos_sorted, axis=1)
    cum_fp = np.cumsum(in_scored & ~pos_sorted, axis=1)

    # The last entry of each tie group among the scored entries: the ROC / PR curve's vertices.
    is_end = np.empty((n_cols, n), dtype=bool)
    is_end[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    is_end[:, -1] = True
    is_end &= in_scored
    is_end[np.arange(n_cols), np.maximum(n_scored - 1, 0)] = n_scored > 0
    ends = np.flatnonzero(is_end)
    col = ends // n
    tp_end = cum_tp.ravel()[ends].astype(np.float64)
    fp_end = cum_fp.ravel()[ends].astype(np.float64)
    first = np.ones(ends.size, dtype=bool)
    first[1:] = col[1:] != col[:-1]
    tp_prev = np.where(first, 0.0, np.roll(tp_end, 1))
    fp_prev = np.where(first, 0.0, np.roll(fp_end, 1))
    d_tp, d_fp = tp_end - tp_prev, fp_end - fp_prev

    n_pos = cum_tp[:, -1].astype(np.float64)
    n_neg = cum_fp[:, -1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Trapezoids between consecutive ROC vertices: a tie group adds ΔFP · (TP_before + ΔTP / 2).
        auc = np.bincount(col, weights=d_fp * (tp_prev + 0.5 * d_tp), minlength=n_cols) / (n_pos * n_neg)
        auc[(n_pos == 0) | (n_neg == 0)] = np.nan
        if not ap:
            return np.full(n_cols, np.nan), auc
        ap_values = np.bincount(col, weights=d_tp * tp_end / (tp_end + fp_end), minlength=n_cols) / n_pos
        ap_values[n_pos == 0] = np.nan
    return ap_values, auc


def _pooled_auc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """ROC-AUC of two pooled samples: ``P(s+ > s-) + ½ P(s+ = s-)``, by sorting only the negatives."""
    negatives = np.sort(negative_scores)
    below = np.searchsorted(negatives, positive_scores, side="left")
    tied = np.searchsorted(negatives, positive_scores, side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (positive_scores.size * negatives.size))


def _prepare(
    y_true: LabelMatrix, scores: ArrayLike, mask: ArrayLike | None, *, owner: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the inputs; return dense labels, float64 scores and the boolean scored-entry mask."""
    y = to_dense(check_labels(y_true, name="y_true", allow_unknown=True))
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MLMLError(f"The 'scores' parameter of {owner} must be a numeric array: {exc}") from None
    if s.shape != y.shape:
        raise MLMLError(
            f"The 'scores' parameter of {owner} must have the shape of y_true {y.shape}. "
            f"Got {s.shape} instead."
        )
    if not np.isfinite(s).all():
        i, c = np.argwhere(~np.isfinite(s))[0]
        raise MLMLError(
            f"The 'scores' parameter of {owner} must be finite. Got {float(s[i, c])!r} at row {i}, column {c} "
            f"({int((~np.isfinite(s)).sum())} non-finite entries)."
        )
    scored = y != UNKNOWN
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != y.shape:
            raise MLMLError(
                f"The 'mask' parameter of {owner} must have the shape of y_true {y.shape}. "
                f"Got {m.shape} instead."
            )
        if m.dtype != bool:
            if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
                raise MLMLError(
                    f"The 'mask' parameter of {owner} must be boolean (or 0/1). Got dtype {m.dtype} with "
                    f"values outside {{0, 1}}."
                )
            m = m.astype(bool)
        scored &= m
    return y, s, scored


def _check_threshold(threshold: float | ArrayLike, n_labels: int, n_samples: int | None = None) -> np.ndarray:
    if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool):
        value = float(threshold)
        if not np.isfinite(value):
            raise MLMLError(
                f"The 'threshold' parameter of evaluate must be finite. Got {threshold!r} instead."
            )
        return np.full(n_labels, value)
    try:
        values = np.asarray(threshold, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    shapes = [(n_labels,)] + ([(n_samples, n_labels)] if n_samples is not None else [])
    if values is None or values.shape not in shapes or not np.isfinite(values).all():
        raise MLMLError(
            "The 'threshold' parameter of evaluate must be a float or a finite array of shape "
            f"({n_labels},) (one threshold per class) or ({n_samples}, {n_labels}) (per entry, e.g. per-sample "
            f"decisions). Got {threshold!r:.200} instead."
        )
    return values


