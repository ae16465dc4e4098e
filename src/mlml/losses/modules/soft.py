"""Ours: the soft pseudo-label losses (they read ω on observed zeros: ``needs_pair``)."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch

from mlml._params import Interval, Options
from mlml.exceptions import MLMLError
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.functional._base import REDUCTION
from mlml.losses.modules.base import Criterion, mean_positives
from mlml.losses.modules.focal import ASL
from mlml.losses.registry import LOSSES


@LOSSES.register("soft-bce")
class SoftBCE(Criterion):
    """:func:`mlml.losses.functional.soft_bce` (soft pseudo-labels on observed zeros, read from ω); plain BCE
    when no weights are given."""

    needs_pair = True

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.soft_bce(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                           suspect=suspect)


@LOSSES.register("weak-soft-bce")
class WeakSoftBCE(Criterion):
    """:func:`~mlml.losses.functional.soft_bce` with EVERY term of an observed zero weighted γ: weak zeros (ours).

    ``loss_ic = −[ω log σ(z) + ω̄ (1 − y) log(1 − σ(z))] · (y + (1 − y) γ)``. On an observed zero with the
    adaptive estimator's ``(ω, ω̄) = (q, 1 − q)`` that is ``γ`` times the cross-entropy against the soft target
    ``q`` -- its minimiser stays ``p = q`` (scaling only the negative term, as WAN does, would move it to
    ``q / (q + γ (1 − q))``) -- while the zeros as a whole weigh less than the observed positives. Only the
    suspect zeros are weak (and get a pseudo-positive term): a verified negative keeps weight 1.

    Args:
        zero_weight: γ: ``"balanced"`` (default) ``k / (C − k)``, with ``k`` the mean number of observed
            positives per training row (read in :meth:`setup`), so that zeros and positives carry the same total
            weight; ``"wan"``: ``1 / (C − 1)``, WAN's; or a float in (0, 1].
        reduction: as :func:`~mlml.losses.functional.soft_bce`.
    """

    needs_pair = True

    _parameter_constraints = {**Criterion._parameter_constraints,
                              "zero_weight": [Options("balanced", "wan"), Interval(Real, 0, 1, closed="right")]}

    def __init__(self, zero_weight: str | float = "balanced", reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(zero_weight=zero_weight, reduction=reduction)
        self.gamma_: float | None = None if isinstance(zero_weight, str) else float(zero_weight)

    def setup(self, observed) -> None:  # type: ignore[override]
        n_labels = observed.shape[1]
        if self.zero_weight == "wan":
            self.gamma_ = 1.0 / max(n_labels - 1, 1)
        elif self.zero_weight == "balanced":
            k = mean_positives(observed)
            self.gamma_ = float(np.clip(k / max(n_labels - k, 1e-12), 1e-6, 1.0))

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        if self.gamma_ is None:
            raise MLMLError(f"weak-soft-bce with zero_weight={self.zero_weight!r} needs setup(observed) first.")
        y = targets.to(logits.dtype)
        pos, neg = LF.pair_weights(y, self._weights(logits, weights, known), suspect)
        scale = y + (1.0 - y) * self.gamma_
        certain = LF.certain_zeros(y, suspect)
        if certain is not None:
            scale = torch.where(certain, torch.ones_like(scale), scale)
        return LF.soft_bce(logits, targets, (pos * scale, neg * scale), reduction=self.reduction, suspect=suspect)


@LOSSES.register("soft-asl")
class SoftASL(ASL):
    """:func:`~mlml.losses.functional.soft_asl` (soft pseudo-labels with ASL focusing, ours); ``asl``'s parameters
    and defaults (γ+ = 0, γ− = 4, m = 0.05, focusing detached). With no weights it is ``asl``."""

    needs_pair = True

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.soft_asl(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                           gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, margin=self.margin,
                           detach_focusing=self.detach_focusing, suspect=suspect)


@LOSSES.register("smile")
class EnhancedBCE(Criterion):
    """SMILE's classifier loss (:func:`mlml.losses.functional.enhanced_bce`): BCE against the label distribution
    ``(ω, ω̄) = (D, 1 − D)`` of the ``smile`` estimator, suspect zeros weighted ``zero_weight`` (default 0.1,
    the authors' ``rate`` for yeast; ``"wan"``: ``1/(C − 1)``, their ``bias = 1``)."""

    needs_pair = True

    _parameter_constraints = {**REDUCTION,
                              "zero_weight": [Options("wan"), *LF.enhanced_bce._parameter_constraints["zero_weight"]]}

    def __init__(self, zero_weight: str | float = 0.1, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(zero_weight=zero_weight, reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        s = 1.0 / max(logits.shape[-1] - 1, 1) if self.zero_weight == "wan" else float(self.zero_weight)
        return LF.enhanced_bce(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                               zero_weight=s, suspect=suspect)
