"""The counting core of the decision metrics, in torchmetrics' shape: ``update`` counts, ``compute`` metrics.

Per class, :class:`DecisionCounts` adds up the true positives ``TP``, the false positives ``FP``, the scored
positives (``support``) and the scored negatives of a block of rows at a decision rule; ``compute`` turns the
totals into micro and macro precision, recall and F1 (the policy of :mod:`mlml.evaluation.metrics`: a class without
a scored positive is left out of the macro means, ``zero_division=0``). :func:`~mlml.evaluation.evaluate` counts
one matrix, :class:`~mlml.evaluation.streamed.StreamedEvaluation` one block of rows at a time, with the same code,
so the two agree exactly. The threshold-free ranking metrics are the other call
(:func:`~mlml.evaluation.metrics.ranking_metrics`, which the observed-label scorer
:func:`mlml.training.observed_map` also reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The decision metrics (the scalars that depend on the threshold), in the order ``compute`` gives them.
DECISION_METRICS: tuple[str, ...] = (
    "micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1",
)


@dataclass
class DecisionCounts:
    """Per-class counts at one decision rule (int64 ``(n_labels,)`` each): ``tp``, ``fp``, ``support`` (scored
    positives) and ``negatives`` (scored negatives)."""

    tp: np.ndarray
    fp: np.ndarray
    support: np.ndarray
    negatives: np.ndarray

    @classmethod
    def zeros(cls, n_labels: int) -> DecisionCounts:
        return cls(*(np.zeros(n_labels, dtype=np.int64) for _ in range(4)))

    def update(self, positive: np.ndarray, scored: np.ndarray, predicted: np.ndarray) -> DecisionCounts:
        """Add a block of rows: boolean ``(rows, n_labels)`` masks of the scored positives, the scored entries
        and the predicted positives. Returns self."""
        negative = scored & ~positive
        self.tp += np.count_nonzero(predicted & positive, axis=0)
        self.fp += np.count_nonzero(predicted & negative, axis=0)
        self.support += np.count_nonzero(positive, axis=0)
        self.negatives += np.count_nonzero(negative, axis=0)
        return self

    def per_class(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-class ``(precision, recall, f1, has_positive)``: recall and F1 NaN without a scored positive,
        precision 0 without a predicted positive."""
        tp, fp, support = self.tp, self.fp, self.support
        n_labels, fn, has_pos = tp.shape[0], support - tp, support > 0
        precision = np.divide(tp, tp + fp, out=np.zeros(n_labels), where=(tp + fp) > 0)
        recall = np.divide(tp, support, out=np.full(n_labels, np.nan), where=has_pos)
        f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.full(n_labels, np.nan), where=has_pos)
        return precision, recall, f1, has_pos

    def compute(self) -> dict[str, float]:
        """The decision metrics (:data:`DECISION_METRICS`) of the counts so far."""
        tp_all, fp_all = int(self.tp.sum()), int(self.fp.sum())
        fn_all = int((self.support - self.tp).sum())
        precision, recall, f1, has_pos = self.per_class()
        return {
            "micro_precision": _safe_divide(tp_all, tp_all + fp_all),
            "micro_recall": _safe_divide(tp_all, tp_all + fn_all),
            "micro_f1": _safe_divide(2 * tp_all, 2 * tp_all + fp_all + fn_all),
            "macro_precision": _mean_or_nan(precision[has_pos]),
            "macro_recall": _mean_or_nan(recall[has_pos]),
            "macro_f1": _mean_or_nan(f1[has_pos]),
        }

    def lists(self) -> dict[str, Any]:
        """The per-class entries of :func:`~mlml.evaluation.evaluate`'s result that the counts give."""
        return {
            "per_class_tp": self.tp.astype(int).tolist(),
            "per_class_fp": self.fp.astype(int).tolist(),
            "per_class_support": self.support.astype(int).tolist(),
            "per_class_f1": self.per_class()[2].tolist(),
        }


def _safe_divide(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")
