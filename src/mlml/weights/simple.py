"""Weights that need no co-occurrence statistics: plain BCE and the IM-WCE oracle."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix, check_labels, to_dense
from mlml.weights.base import ESTIMATORS, WeightEstimator


@ESTIMATORS.register("ones")
class Ones(WeightEstimator):
    """ω = ω̄ = 1 everywhere: plain binary cross-entropy (the paper's BCE baseline)."""

    detects_missing = False

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        pass

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        ones = np.ones(observed.shape)
        return ones, ones.copy()


@ESTIMATORS.register("ignore-missing")
class IgnoreMissing(WeightEstimator):
    """The paper's IM-WCE oracle: ω = 1, ω̄ = 0 on the hidden entries and 1 elsewhere.

    It reads the mask of hidden positives, which a real user never has; it bounds what a perfect detector of
    missing labels could gain. ``transform`` requires ``hidden`` of the same shape as ``observed``.
    """

    needs_hidden = True

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        pass

    def _weights(
        self, observed: LabelMatrix, *, rows: Any, features: Any, hidden: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        if hidden is None:
            raise MLMLError("The 'ignore-missing' estimator (IM-WCE oracle) needs the 'hidden' mask.")
        hidden = to_dense(check_labels(hidden, name="hidden", allow_unknown=False)).astype(bool)
        if hidden.shape != observed.shape:
            raise MLMLError(f"'hidden' has shape {hidden.shape}; 'observed' has shape {observed.shape}.")
        neg = np.where(hidden, 0.0, 1.0)
        return np.ones(observed.shape), neg
