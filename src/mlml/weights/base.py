"""The contract every confidence-weight estimator follows (scikit-learn style, see ``sklearn/dummy.py``).

``__init__`` stores parameters only; ``fit(observed)`` validates, sets learned attributes ending in ``_`` and
returns ``self``; ``transform(observed)`` checks the estimator is fitted and returns ``(pos, neg)``: two float64
arrays of shape ``(n_samples, n_labels)`` holding ω (the weight of each positive term of Eq. 2) and ω̄ (the
weight of each negative term). Entries whose observed label is ``-1`` (unknown) get ``ω = ω̄ = 0``.

Estimators are fitted on the training fold's OBSERVED labels only. ``transform`` works on any batch of
observed labels, so a data loader can compute weights on the fly. Optional inputs:

* ``features`` -- ``(n_samples, n_features)`` for feature-aware estimators (``uses_features = True``);
* ``hidden`` -- the boolean mask of hidden entries, for the oracle ``ignore_missing`` only
  (``needs_hidden = True``); nothing else may look at it;
* ``update(probabilities, index=...)`` -- model-aware estimators (``adaptive = True``) are refreshed by the
  trainer with the current model's predicted probabilities on the training set, once per epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from mlml._registry import Registry
from mlml.labels import UNKNOWN, LabelMatrix, check_labels, to_dense

ESTIMATORS: Registry[type] = Registry("weight estimator")


class WeightEstimator(BaseEstimator):  # type: ignore[misc]
    """Base class: subclasses implement ``_fit`` and ``_weights``."""

    needs_hidden = False
    uses_features = False
    adaptive = False
    #: Whether ω̄ says which observed zeros are probably missing positives (False for weights that do not look
    #: at the zeros, such as ``ones`` and ``class-balance``); the grid scores such estimators as detectors.
    detects_missing = True

    def fit(self, observed: LabelMatrix, *, features: np.ndarray | None = None, hidden: Any = None) -> Any:
        """Learn from the OBSERVED training labels ``(n_samples, n_labels)`` (dense or CSR, -1 allowed);
        ``features`` for feature-aware estimators, ``hidden`` for the oracle only. Returns ``self``."""
        observed = check_labels(observed, name="observed")
        self.n_labels_ = observed.shape[1]
        self._fit(observed, features=features, hidden=hidden)
        return self

    def transform(
        self,
        observed: LabelMatrix,
        *,
        features: np.ndarray | None = None,
        hidden: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(ω, ω̄)``: float64 ``(n_samples, n_labels)`` weights of the positive and negative terms of Eq. 2 for
        any batch of observed labels; 0 and 0 on unknown (-1) entries.

        Raises:
            NotFittedError: before :meth:`fit`. MLMLError: a label matrix of another width.
        """
        self._check_fitted()
        observed = check_labels(observed, name="observed", n_labels=self.n_labels_)
        pos, neg = self._weights(observed, features=features, hidden=hidden)
        unknown = to_dense(observed) == UNKNOWN
        if unknown.any():
            pos = np.where(unknown, 0.0, pos)
            neg = np.where(unknown, 0.0, neg)
        return pos, neg

    def fit_transform(
        self, observed: LabelMatrix, *, features: np.ndarray | None = None, hidden: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fit` then :meth:`transform` on the same rows (each sample counts itself where it matters)."""
        return self.fit(observed, features=features, hidden=hidden).transform(
            observed, features=features, hidden=hidden
        )

    def update(self, probabilities: np.ndarray, *, index: np.ndarray | None = None) -> None:
        """Model-aware estimators refresh their state from predicted probabilities; others ignore it."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_labels_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(observed) first.")

    def _fit(self, observed: LabelMatrix, *, features: np.ndarray | None, hidden: Any) -> None:
        raise NotImplementedError

    def _weights(
        self, observed: LabelMatrix, *, features: np.ndarray | None, hidden: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def is_labels_only(name: str) -> bool:
    """Whether the registered estimator ``name`` learns from the observed labels alone: no features, no
    hidden-entry mask, no model evidence (an unknown name raises, listing the valid ones)."""
    estimator = ESTIMATORS.get(name)
    return not any(getattr(estimator, flag, False) for flag in ("uses_features", "needs_hidden", "adaptive"))
