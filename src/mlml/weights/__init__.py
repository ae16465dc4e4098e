"""Confidence-weight estimators: fit on observed training labels, transform to (ω, ω̄)."""

from mlml.weights import adaptive as _adaptive  # noqa: F401  (the imports register the estimators)
from mlml.weights import backoff as _backoff  # noqa: F401
from mlml.weights import compose as _compose  # noqa: F401
from mlml.weights import denoising as _denoising  # noqa: F401
from mlml.weights import neighbors as _neighbors  # noqa: F401
from mlml.weights import pairwise as _pairwise  # noqa: F401
from mlml.weights import pattern as _pattern  # noqa: F401
from mlml.weights import positive as _positive  # noqa: F401
from mlml.weights import simple as _simple  # noqa: F401
from mlml.weights import smile as _smile  # noqa: F401
from mlml.weights.base import ESTIMATORS, WeightEstimator

__all__ = ["ESTIMATORS", "WeightEstimator"]
