"""Masked multi-label metrics and per-class thresholds.

:func:`evaluate` scores predicted probabilities against three-state labels (``-1`` entries and entries outside
an optional mask are ignored); :func:`tune_thresholds` picks per-class F1-maximising thresholds on a
validation split. The policy for classes without positives (or negatives) is stated in
:mod:`mlml.evaluation.metrics`.
"""

from mlml.evaluation.metrics import (
    PER_CLASS_METRICS,
    SCALAR_METRICS,
    UndefinedMetricWarning,
    evaluate,
    ranking_metrics,
)
from mlml.evaluation.thresholds import FALLBACK_THRESHOLD, threshold_grid, tune_thresholds

__all__ = [
    "FALLBACK_THRESHOLD",
    "PER_CLASS_METRICS",
    "SCALAR_METRICS",
    "UndefinedMetricWarning",
    "evaluate",
    "ranking_metrics",
    "threshold_grid",
    "tune_thresholds",
]
