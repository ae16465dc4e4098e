"""Eq. 2 (weighted BCE; AN with unit weights)."""

from __future__ import annotations

from mlml.losses.functional import Reduction, weighted_bce
from mlml.losses.modules.base import Criterion
from mlml.losses.registry import LOSSES


@LOSSES.register("weighted-bce")
class WeightedBCE(Criterion):
    """Eq. 2 (see :func:`mlml.losses.functional.weighted_bce`); plain BCE (AN) when no weights are given."""

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return weighted_bce(logits, targets, self._weights(logits, weights, known), reduction=self.reduction)
