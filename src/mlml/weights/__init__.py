"""Confidence-weight estimators: fit on observed training labels, transform to (ω, ω̄)."""

from mlml.weights import simple as _simple  # noqa: F401  (registers the estimators)
from mlml.weights.base import ESTIMATORS, WeightEstimator

__all__ = ["ESTIMATORS", "WeightEstimator"]
