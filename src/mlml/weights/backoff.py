"""Eq. 3 where its pattern has support, the pairwise estimate where it has not: Bayesian shrinkage.

With the integer counts of Eq. 3 (:mod:`mlml.weights.pattern`) ``D_i = #{j : P_i ⊆ P_j}`` and
``N_ic = #{j : P_i ∪ {c} ⊆ P_j}``, and the pairwise estimate ``q_ic = agg_{l ∈ P_i} p(c | l)``
(:mod:`mlml.weights.pairwise`, the prior ``π_c`` when ``P_i`` is empty), the estimate is the posterior mean of
``P(c | P_i)`` under a Beta prior of mean ``q_ic`` and strength ``κ`` (pseudo-samples)::

    p̂_ic = (N_ic + κ q_ic) / (D_i + κ),        ω̄_ic = 1 − p̂_ic,        ω_ic = 1.

A pattern supported by many samples (``D_i ≫ κ``) gets Eq. 3; a rare one (``D_i ≲ κ``) mostly the pairwise
estimate; a pattern never seen (``D_i = 0``, new samples only) exactly the pairwise estimate; ``κ = 0`` is
Eq. 3 (with the pairwise estimate for unseen patterns) and ``κ → ∞`` the pairwise estimate. Observed
positives get ``ω̄ = 0``. As in Eq. 3, a fitted sample counts itself when the fitted set is transformed.
"""

from __future__ import annotations

import numpy as np

from mlml._params import NON_NEGATIVE, Options
from mlml.labels import POSITIVE, UNKNOWN
from mlml.weights.base import ESTIMATORS, WeightEstimator
from mlml.weights.pairwise import (
    AGGREGATES,
    Aggregate,
    aggregate_conditionals,
    cooccurrence_statistics,
    indicator,
)
from mlml.weights.pattern import PatternEstimator


@ESTIMATORS.register("backoff")
class Backoff(WeightEstimator):
    """Eq. 3 shrunk toward the pairwise estimate (see the module docstring for the formula).

    Args:
        strength: ``κ >= 0``, the prior's weight in pseudo-samples (default 5: a pattern seen in 5 fitted
            samples gets half its weight from Eq. 3).
        aggregate: the pairwise aggregate, ``"max"``, ``"mean"`` or ``"noisy-or"``.

    Attributes:
        pattern_: the fitted :class:`~mlml.weights.pattern.PatternEstimator` (the counts).
        conditional_, prior_: the pairwise statistics.
    """

    _parameter_constraints = {"strength": [NON_NEGATIVE], "aggregate": [Options(AGGREGATES)]}

    def __init__(self, strength: float = 5.0, aggregate: Aggregate = "mean") -> None:
        self.strength = strength
        self.aggregate = aggregate

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        self.pattern_ = PatternEstimator().fit(observed)
        self.conditional_, self.prior_ = cooccurrence_statistics(
            indicator(observed, POSITIVE), indicator(observed, UNKNOWN)
        )

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        positives = indicator(observed, POSITIVE)
        numerator, denominator = self.pattern_._support(positives)
        pairwise = aggregate_conditionals(self.conditional_, self.prior_, positives, self.aggregate)
        kappa = float(self.strength)
        with np.errstate(invalid="ignore"):  # 0 / 0 only for an unseen pattern with κ = 0
            estimate = (numerator + kappa * pairwise) / (denominator[:, None] + kappa)
        unseen = denominator == 0
        estimate[unseen] = pairwise[unseen]
        neg = np.clip(1.0 - estimate, 0.0, 1.0)
        neg[positives.toarray() > 0] = 0.0
        return np.ones(observed.shape), neg
