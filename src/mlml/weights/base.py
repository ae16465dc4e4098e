"""The contract every confidence-weight estimator follows (scikit-learn style, see ``sklearn/dummy.py``).

``__init__`` stores parameters only; ``fit(observed)`` validates, sets learned attributes ending in ``_`` and
returns ``self``; ``transform(observed)`` checks the estimator is fitted and returns ``(pos, neg)``: two float64
arrays of shape ``(n_samples, n_labels)`` holding ω (the weight of each positive term of Eq. 2) and ω̄ (the
weight of each negative term). Entries whose observed label is ``-1`` (unknown) get ``ω = ω̄ = 0``; entries
whose observed label is ``2`` (a verified negative, :mod:`mlml.labels`) get ``ω = ω̄ = 1`` whatever the estimator
says -- a verified negative is certain, never a candidate for a missing positive. Both rules are applied here, in
:meth:`WeightEstimator.transform`, once for every estimator. In the statistics estimators learn from the labels
(co-occurrence counts, class rates, neighbour votes), a verified negative is a known negative (it counts in every
"known" denominator, as a ``0`` does), and only ``0`` entries are candidates for being missing.

Estimators are fitted on the training fold's OBSERVED labels only. ``transform`` works on any batch of
observed labels, so a data loader can compute weights on the fly.

**Which rows a batch holds** (the one rule, for every estimator): ``transform(observed, rows=...)`` takes, with
the batch's observed labels, ``rows``: the positions among the FITTED rows (the rows passed to ``fit``, in that
order) of the batch's rows, in the batch's order -- any subset, any permutation. ``rows=None`` means the batch
holds new rows (validation, test, another data set). Estimators keep per-row state of the fitted rows only where
they say so (``uses_rows = True``: the model-aware estimators' current state, the k-NN estimator's leave-one-out
neighbours, the agreement votes); for new rows they fall back on what they learned from labels and features.
Every other estimator ignores ``rows``. Nothing is ever inferred from comparing values. ``fit_transform``
transforms the fitted rows with ``rows = 0..n-1``.

Optional inputs:

* ``features`` -- ``(n_samples, n_features)`` for feature-aware estimators (``uses_features = True``), the
  batch's rows;
* ``hidden`` -- the boolean mask of hidden entries, for the oracle ``ignore_missing`` only
  (``needs_hidden = True``), the batch's rows; nothing else may look at it;
* ``update(probabilities, rows=...)`` -- model-aware estimators (``adaptive = True``) are refreshed by the
  trainer with the model's probabilities on fitted rows (``rows=None``: all of them, in order), once per epoch.

Capability flags (class attributes; the trainer, the grid and the CLI read these, never names):
``needs_hidden``, ``uses_features``, ``adaptive``, ``uses_rows``, ``detects_missing``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from mlml._params import validate_params
from mlml._registry import Registry
from mlml.exceptions import MLMLError
from mlml.labels import UNKNOWN, VERIFIED_NEGATIVE, LabelMatrix, check_labels, to_dense

ESTIMATORS: Registry[type] = Registry("weight estimator")


class WeightEstimator(BaseEstimator):  # type: ignore[misc]
    """Base class: subclasses implement ``_fit`` and ``_weights``, and declare their constructor's parameters in
    ``_parameter_constraints`` (:mod:`mlml._params`), which :meth:`fit` checks before anything else."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    needs_hidden = False
    uses_features = False
    adaptive = False
    #: Whether the weights of fitted rows depend on which rows they are (``rows`` in ``transform``).
    uses_rows = False
    #: Whether ω̄ says which observed zeros are probably missing positives (False for weights that do not look
    #: at the zeros, such as ``ones`` and ``class-balance``); the grid scores such estimators as detectors.
    detects_missing = True
    #: Whether ``_weights`` takes ``dtype`` and computes in it (else its float64 output is cast).
    native_dtype = False

    def fit(self, observed: LabelMatrix, *, features: np.ndarray | None = None, hidden: Any = None) -> Any:
        """Learn from the OBSERVED training labels ``(n_samples, n_labels)`` (dense or CSR, -1 allowed);
        ``features`` for feature-aware estimators, ``hidden`` for the oracle only. Returns ``self``."""
        self._checked_params()
        observed = check_labels(observed, name="observed")
        self.n_labels_ = observed.shape[1]
        self.n_fitted_ = observed.shape[0]
        self._fit(observed, features=features, hidden=hidden)
        return self

    def transform(
        self,
        observed: LabelMatrix,
        *,
        rows: np.ndarray | None = None,
        features: np.ndarray | None = None,
        hidden: Any = None,
        dtype: Any = np.float64,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(ω, ω̄)``: float64 ``(n_samples, n_labels)`` weights of the positive and negative terms of Eq. 2 for
        any batch of observed labels; 0 and 0 on unknown (-1) entries, 1 and 1 on verified negatives (2).

        Args:
            observed: the batch's observed labels ``(n_samples, n_labels)``.
            rows: the batch rows' positions among the fitted rows, or None for new rows (see the module
                docstring).
            features: the batch's features (feature-aware estimators).
            hidden: the batch's hidden-entry mask (the oracle only).
            dtype: ``np.float64`` (default) or ``np.float32``, what the trainer asks for when it weights large
                sets batch by batch; estimators with ``native_dtype`` compute in it, the others are cast.

        Raises:
            NotFittedError: before :meth:`fit`.
            MLMLError: a label matrix of another width, bad ``rows``, a ``dtype`` other than float32 or float64.
        """
        self._check_fitted()
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise MLMLError(f"The 'dtype' parameter of transform must be float32 or float64. Got {dtype}.")
        observed = check_labels(observed, name="observed", n_labels=self.n_labels_)
        if rows is not None:
            rows = self._check_rows(rows, observed.shape[0])
        extra = {"dtype": dtype} if self.native_dtype else {}
        pos, neg = self._weights(observed, rows=rows, features=features, hidden=hidden, **extra)
        special = (UNKNOWN, VERIFIED_NEGATIVE)
        if not sp.issparse(observed) or np.isin(observed.data, special).any():  # else: no dense mask needed
            dense = to_dense(observed)
            unknown = dense == UNKNOWN
            if unknown.any():
                pos = np.where(unknown, 0.0, pos)
                neg = np.where(unknown, 0.0, neg)
            verified = dense == VERIFIED_NEGATIVE
            if verified.any():  # certain: full weight, whatever the estimator says (the one place for this rule)
                pos = np.where(verified, 1.0, pos)
                neg = np.where(verified, 1.0, neg)
        return pos.astype(dtype, copy=False), neg.astype(dtype, copy=False)

    def fit_transform(
        self, observed: LabelMatrix, *, features: np.ndarray | None = None, hidden: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fit` then :meth:`transform` of the fitted rows (``rows = 0..n-1``)."""
        self.fit(observed, features=features, hidden=hidden)
        return self.transform(observed, rows=np.arange(self.n_fitted_), features=features, hidden=hidden)

    def _checked_params(self) -> dict[str, Any]:
        """The constructor's parameters, checked against ``_parameter_constraints`` and converted (a real
        interval gives a float, an integral one an int); the attributes themselves stay as given."""
        return validate_params(self.get_params(deep=False), self._parameter_constraints, type(self).__name__)

    def update(self, probabilities: np.ndarray, *, rows: np.ndarray | None = None) -> None:
        """Model-aware estimators refresh their state from predicted probabilities; others ignore it."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_labels_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(observed) first.")

    def _check_rows(self, rows: Any, n_rows: int) -> np.ndarray:
        """``rows`` as int64 positions among the fitted rows, one per batch row."""
        rows = np.asarray(rows)
        if rows.shape != (n_rows,) or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
            raise MLMLError(f"'rows' must hold one integer position per batch row ({n_rows}). Got {rows!r:.80}.")
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_fitted_):
            raise MLMLError(f"'rows' must be positions among the {self.n_fitted_} fitted rows. Got values in "
                            f"[{rows.min()}, {rows.max()}].")
        return rows.astype(np.int64, copy=False)

    def _fit(self, observed: LabelMatrix, *, features: np.ndarray | None, hidden: Any) -> None:
        raise NotImplementedError

    def _weights(
        self, observed: LabelMatrix, *, rows: np.ndarray | None, features: np.ndarray | None, hidden: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def is_labels_only(name: str) -> bool:
    """Whether the registered estimator ``name`` learns from the observed labels alone: no features, no
    hidden-entry mask, no model evidence (an unknown name raises, listing the valid ones)."""
    estimator = ESTIMATORS.get(name)
    return not any(getattr(estimator, flag, False) for flag in ("uses_features", "needs_hidden", "adaptive"))
