"""Weights on the positive terms: the seed's class balancing and per-entry annotator agreement."""

from __future__ import annotations

import numpy as np

from mlml._params import NON_NEGATIVE, POSITIVE_INT
from mlml._validation import check_real
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, label_counts, to_dense
from mlml.weights.base import ESTIMATORS, WeightEstimator


@ESTIMATORS.register("class-balance")
class ClassBalance(WeightEstimator):
    """The seed's class balancing on positives: ``ω_ic = clip(round(N / (2 n_c)), lo, hi)``, ``ω̄ = 1``.

    ``N`` is the number of fitted samples and ``n_c`` the observed positives of class ``c`` among them (a
    class with none gets ``hi``); ``round`` rounds half to even (numpy). The seed used
    ``lo = 1``, ``hi = 10``.

    Args:
        min_weight: ``lo``.
        max_weight: ``hi`` (``>= min_weight``).

    Attributes:
        class_weight_: ``(n_labels,)`` the weights ``ω_c``.
    """

    detects_missing = False

    _parameter_constraints = {"min_weight": [NON_NEGATIVE], "max_weight": [NON_NEGATIVE]}

    def __init__(self, min_weight: float = 1.0, max_weight: float = 10.0) -> None:
        self.min_weight = min_weight
        self.max_weight = max_weight

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        low = float(self.min_weight)
        high = check_real(self.max_weight, "max_weight", type(self).__name__, low=low)  # lo <= hi
        counts = label_counts(observed).astype(float)
        with np.errstate(divide="ignore"):
            raw = np.where(counts > 0, observed.shape[0] / (2.0 * np.maximum(counts, 1)), np.inf)
        self.class_weight_ = np.clip(np.round(raw), low, high)

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        return np.tile(self.class_weight_, (observed.shape[0], 1)), np.ones(observed.shape)


@ESTIMATORS.register("agreement")
class Agreement(WeightEstimator):
    """Per-entry annotator agreement: the share of raters who agree with the observed label.

    ``votes[i, c]`` raters (of ``raters[i, c]``) said "positive" for sample ``i`` and label ``c``::

        ω_ic = votes_ic / raters_ic,        ω̄_ic = 1 − votes_ic / raters_ic.

    An observed positive that few raters support counts less, and so does an observed negative that several
    raters called positive (a likely missing label). The votes belong to particular samples, so they are given
    to the constructor and ``fit`` takes the observed labels of exactly those samples, in the same order (the
    training rows); ``transform`` reads the votes of the fitted rows at ``rows`` and refuses new rows
    (``rows=None``), which have no votes. Without votes (``votes=None``) every entry gets ``ω = ω̄ = 1``.

    Args:
        votes: ``(n_samples, n_labels)`` non-negative integer votes, or None.
        raters: the number of raters: an int, ``(n_samples,)`` per sample, or ``(n_samples, n_labels)``; every
            entry ``>= 1`` and ``>= votes``.
    """

    uses_rows = True

    _parameter_constraints = {"votes": [None, np.ndarray, list], "raters": [POSITIVE_INT, np.ndarray, list, tuple]}

    def __init__(self, votes: np.ndarray | None = None, raters: int | np.ndarray = 1) -> None:
        self.votes = votes
        self.raters = raters

    def _agreement(self, shape: tuple[int, int]) -> np.ndarray | None:
        name = type(self).__name__
        if self.votes is None:  # nothing to weigh, but a bad 'raters' is still a mistake worth naming
            raters = np.asarray(self.raters)
            if not np.issubdtype(raters.dtype, np.integer) or np.any(raters < 1):
                raise MLMLError(f"The 'raters' parameter of {name} must be an int >= 1 or an array of them. "
                                f"Got {self.raters!r:.100} instead.")
            return None
        votes = np.asarray(self.votes)
        if votes.shape != shape:
            raise MLMLError(
                f"The 'votes' parameter of {name} has shape {votes.shape}; the observed labels have shape "
                f"{shape}: fit and transform take the labels of the voted samples, in order."
            )
        raters = np.asarray(self.raters)
        if raters.ndim == 1:
            raters = raters[:, None]
        try:
            raters = np.broadcast_to(raters, shape)
        except ValueError:
            raise MLMLError(
                f"The 'raters' parameter of {name} must be an int, ({shape[0]},) or {shape}. "
                f"Got shape {np.shape(self.raters)}."
            ) from None
        if not (np.issubdtype(votes.dtype, np.integer) and np.issubdtype(raters.dtype, np.integer)):
            raise MLMLError(
                f"'votes' and 'raters' of {name} must be integers. Got {votes.dtype}, {raters.dtype}."
            )
        if np.any(raters < 1) or np.any(votes < 0) or np.any(votes > raters):
            i, c = np.argwhere((raters < 1) | (votes < 0) | (votes > raters))[0]
            raise MLMLError(
                f"{name} needs 0 <= votes <= raters and raters >= 1; entry ({i}, {c}) has "
                f"votes={votes[i, c]}, raters={raters[i, c]}."
            )
        return votes / raters

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        self._agreement(observed.shape)

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        share = self._agreement((self.n_fitted_, self.n_labels_))
        if share is None:
            return np.ones(observed.shape), np.ones(observed.shape)
        if rows is None:
            raise MLMLError(
                f"{type(self).__name__} has votes for the fitted rows only: pass their positions as 'rows' "
                "(new rows have no votes)."
            )
        share = share[rows]
        positive = to_dense(observed) == POSITIVE
        return np.where(positive, share, 1.0), np.where(positive, 1.0, 1.0 - share)
