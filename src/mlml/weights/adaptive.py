"""Model-aware confidence weights, refreshed from the model's predictions each epoch (``adaptive = True``).

Start: a base estimator (labels-only ``"pairwise-noisy-or"``, or the feature-aware ``"knn"``) fitted on the
training rows gives ``q⁰_ic = 1 − ω̄⁰_ic``, the prior probability that the observed zero ``(i, c)`` is a
missing positive. After each epoch the trainer passes the model's probabilities ``p_ic`` on the training
rows (σ of the logits the epoch's own forward pass gave each row when it trained on it: no extra pass), and

1. **label frequency** (Elkan & Noto 2008, estimator e1): ``c_k = P(s = 1 | y = 1)`` for class ``k`` is the
   mean of ``p`` over the observed positives of ``k``, shrunk towards the mean over all observed positives
   with ``m = 10`` pseudo-rows: ``ĉ_k = (Σ_{i: s_ik = 1} p_ik + m ĉ) / (n_k + m)``, clipped to ``[0.05, 1]``;
2. **PU posterior** of each observed zero: ``q^model_ik = P(y = 1 | x_i, s = 0) = (1 − ĉ_k)/ĉ_k · p/(1 − p)``,
   clipped to [0, 1];
3. **anchored target**: a linear opinion pool with the prior, ``q*_ik = (1 − λ) q⁰_ik + λ q^model_ik``
   (``λ = model_weight``);
4. **damped, capped step**: ``q_t = q_{t−1} + clip(η (q* − q_{t−1}), −δ, δ)`` (``η = momentum``,
   ``δ = max_step``), starting from ``q⁰``; ``ω̄ = 1 − q_t`` on observed zeros, ``ω = 1``.

Guards against confirmation bias (the model learning its own mistakes): the first ``warmup`` updates are
ignored (on top of the trainer's own warm-up epochs); the prior keeps weight ``1 − λ`` at every step, so the
model alone can never drive a weight to 0 or 1 when ``λ < 1``; the exponential average (``η``) and the cap
(``δ``) bound how far a weight moves per epoch, so one over-confident epoch cannot flip it; observed positives
are never reweighted (``ω = 1``, ``ω̄ = 0``); ``c`` is re-estimated from the model each epoch, so as the
model's scores rise on the observed positives the implied share of missing positives shrinks.

Pseudo-positives (EM): with ``pseudo_positive = β > 0`` the estimator also returns ``ω_ic = β q_ic`` on each
observed zero (instead of 1, which Eq. 2 never reads there since ``y = 0``): the weight of a positive term for
that entry. A loss that reads it (``soft-bce`` in :mod:`mlml.losses.functional`) then minimises, with
``β = 1``, the expected log-likelihood under the current posterior,
``−[q log σ(z) + (1 − q) log(1 − σ(z))]`` -- the M-step of an EM scheme whose E-step is steps 1-4 above. With
the paper's weighted BCE (``weighted-bce``) these ω are ignored and nothing changes.

Rows (the contract of :mod:`mlml.weights.base`): ``update`` receives probabilities for fitted rows -- all of them in
order (``rows=None``, what the trainer does each epoch), or those at positions ``rows``. ``transform`` with
``rows`` returns the current state of those fitted rows; new rows (``rows=None``: validation, test) get the base
estimator's weights, since the model's evidence on them is not part of the state.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from mlml._params import COUNT, FRACTION, Interval, Registered
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, LabelMatrix, to_dense, unannotated_as_negative
from mlml.weights.base import ESTIMATORS, WeightEstimator

_SHRINK_ROWS = 10.0
_MIN_FREQUENCY = 0.05


def label_frequency(probabilities: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Elkan & Noto's e1 estimate of ``c_k = P(s = 1 | y = 1)`` per class, shrunk towards the global one.

    Args:
        probabilities: ``(n, n_labels)`` model probabilities ``p``.
        positive: bool ``(n, n_labels)``, the observed positives.

    Returns:
        ``(n_labels,)`` in ``[0.05, 1]``; ``ĉ_k = (Σ_{s_ik=1} p_ik + 10 ĉ) / (n_k + 10)`` with ``ĉ`` the
        mean of ``p`` over every observed positive (0.5 where there is none).
    """
    n_pos = positive.sum(axis=0)
    total = np.where(positive, probabilities, 0.0).sum(axis=0)
    overall = total.sum() / n_pos.sum() if n_pos.sum() else 0.5
    c = (total + _SHRINK_ROWS * overall) / (n_pos + _SHRINK_ROWS)
    return np.clip(c, _MIN_FREQUENCY, 1.0)


def pu_posterior(probabilities: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """``P(y = 1 | x, s = 0) = (1 − c)/c · p/(1 − p)``, clipped to [0, 1] (Elkan & Noto 2008, Eq. 4)."""
    p = np.clip(probabilities, 0.0, 1.0 - 1e-6)
    return np.clip((1.0 - frequency) / frequency * p / (1.0 - p), 0.0, 1.0)


@ESTIMATORS.register("pu-adaptive")
class PUAdaptive(WeightEstimator):
    """Prior weights refreshed each epoch with a positive-unlabelled posterior (see the module docstring).

    Args:
        base: a registered estimator for the starting point ``q⁰`` (labels-only here; the
            ``"knn-pu-adaptive"`` subclass uses ``"knn"``); ``base_params`` its parameters.
        model_weight: ``λ`` in [0, 1], the model's share of the target.
        momentum: ``η`` in (0, 1], the exponential-average rate.
        max_step: ``δ`` in (0, 1], the largest change of a weight in one update.
        warmup: number of first ``update`` calls to ignore.
        pseudo_positive: ``β`` in [0, 1]: ω on observed zeros is ``β q`` (the weight of a soft pseudo-positive
            term for a loss that reads it); 0 keeps ω = 1 there.

    Attributes:
        base_estimator_: the fitted base estimator.
        prior_: ``(n_train, n_labels)`` ``q⁰`` of the fitted rows.
        state_: ``(n_train, n_labels)`` the current ``q``.
        frequency_: ``(n_labels,)`` the last ``ĉ``; ``n_updates_`` calls seen, ``n_applied_`` applied.
    """

    adaptive = True
    uses_rows = True
    _parameter_constraints = {
        "base": [Registered(lambda: ESTIMATORS)], "base_params": [None, dict], "model_weight": [FRACTION],
        "momentum": [Interval(Real, 0, 1, closed="right")], "max_step": [Interval(Real, 0, 1, closed="right")],
        "warmup": [COUNT], "pseudo_positive": [FRACTION],
    }

    def __init__(
        self,
        base: str = "pairwise-noisy-or",
        base_params: dict[str, Any] | None = None,
        model_weight: float = 0.5,
        momentum: float = 0.5,
        max_step: float = 0.2,
        warmup: int = 0,
        pseudo_positive: float = 0.0,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.model_weight = model_weight
        self.momentum = momentum
        self.max_step = max_step
        self.warmup = warmup
        self.pseudo_positive = pseudo_positive

    def _fit(self, observed: LabelMatrix, *, features: Any, hidden: Any) -> None:
        owner = type(self).__name__
        base_class = ESTIMATORS.get(self.base)
        if getattr(base_class, "needs_hidden", False) or getattr(base_class, "adaptive", False):
            raise MLMLError(
                f"The 'base' parameter of {owner} must name a non-oracle, non-adaptive estimator. "
                f"Got {self.base!r}."
            )
        if getattr(base_class, "uses_features", False) and not self.uses_features:
            raise MLMLError(f"{owner} takes a labels-only base; use 'knn-pu-adaptive' for {self.base!r}.")
        self.base_estimator_ = ESTIMATORS.create(self.base, **(self.base_params or {}))
        base_features = features if self.uses_features else None
        self.base_estimator_.fit(observed, features=base_features)
        # The state covers every entry that can be a candidate: the suspect zeros and the unannotated entries (a
        # method that assumes unannotated entries negative transforms them as zeros; otherwise the base contract
        # gives them weight 0 whatever their state), with the base estimator's prior for them as zeros.
        candidates = unannotated_as_negative(observed)
        _, neg = self.base_estimator_.transform(candidates, rows=np.arange(observed.shape[0]), features=base_features)
        self.observed_ = to_dense(observed).astype(np.int8, copy=False)
        self.zero_ = to_dense(candidates) == 0
        self.prior_ = np.where(self.zero_, 1.0 - neg, 0.0)
        self.state_ = self.prior_.copy()
        self.frequency_ = np.full(self.observed_.shape[1], np.nan)
        self.n_updates_ = 0
        self.n_applied_ = 0

    def update(self, probabilities: np.ndarray, *, rows: np.ndarray | None = None) -> None:
        """Move the state towards the anchored PU target (steps 1-4 of the module docstring).

        Args:
            probabilities: ``(n_rows, n_labels)`` model probabilities in [0, 1] of fitted rows.
            rows: ``(n_rows,)`` their positions among the fitted rows; None: every fitted row, in order.
        """
        self._check_fitted()
        p = np.asarray(probabilities, dtype=np.float64)
        n_train, n_labels = self.observed_.shape
        if p.ndim != 2 or p.shape[1] != n_labels:
            raise MLMLError(f"'probabilities' must have shape (n_rows, {n_labels}). Got {p.shape}.")
        if not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0:
            raise MLMLError("'probabilities' must hold finite values in [0, 1].")
        if rows is None:
            if p.shape[0] != n_train:
                raise MLMLError(
                    f"'probabilities' has {p.shape[0]} rows, not the {n_train} fitted ones: pass their positions "
                    "as 'rows'."
                )
            rows = np.arange(n_train)
        else:
            rows = self._check_rows(rows, p.shape[0])
        self.n_updates_ += 1
        if self.n_updates_ <= self.warmup:
            return
        observed = self.observed_[rows]
        self.frequency_ = label_frequency(p, observed == POSITIVE)
        target = (1.0 - self.model_weight) * self.prior_[rows] + self.model_weight * pu_posterior(
            p, self.frequency_
        )
        current = self.state_[rows]
        step = np.clip(self.momentum * (target - current), -self.max_step, self.max_step)
        self.state_[rows] = np.where(self.zero_[rows], current + step, 0.0)
        self.n_applied_ += 1

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        dense = to_dense(observed)
        if rows is not None:
            q = self.state_[rows]
        else:
            base_features = features if self.uses_features else None
            _, neg = self.base_estimator_.transform(observed, features=base_features)
            q = 1.0 - neg
        zero = dense == 0
        neg = np.where(zero, 1.0 - q, 0.0)
        pos = np.where(zero, self.pseudo_positive * q, 1.0) if self.pseudo_positive else np.ones(dense.shape)
        return np.clip(pos, 0.0, 1.0), np.clip(neg, 0.0, 1.0)


@ESTIMATORS.register("knn-pu-adaptive")
class KNNPUAdaptive(PUAdaptive):
    """:class:`PUAdaptive` starting from the feature-aware ``"knn"`` weights (``fit`` needs ``features``)."""

    uses_features = True

    def __init__(
        self,
        base: str = "knn",
        base_params: dict[str, Any] | None = None,
        model_weight: float = 0.5,
        momentum: float = 0.5,
        max_step: float = 0.2,
        warmup: int = 0,
        pseudo_positive: float = 0.0,
    ) -> None:
        super().__init__(base, base_params, model_weight, momentum, max_step, warmup, pseudo_positive)
