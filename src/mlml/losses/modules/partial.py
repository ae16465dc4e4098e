"""Partial BCE (Durand et al. 2019)."""

from __future__ import annotations

from mlml.exceptions import MLMLError
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.modules.base import Criterion
from mlml.losses.registry import LOSSES


@LOSSES.register("partial-bce")
class PartialBCE(Criterion):
    """Partial BCE (:func:`mlml.losses.functional.partial_bce`), normalised by the proportion of known labels.

    Uses ``known`` from forward (all known where None); ``g(p) = α p^γ + β`` with ``g(1) = 1``, ``g(0.1) =
    5``.
    """

    _parameter_constraints = LF.partial_bce._parameter_constraints

    def __init__(self, gamma: float = 1.0, alpha: float | None = None, beta: float | None = None,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(gamma=gamma, alpha=alpha, beta=beta, reduction=reduction)
        if (alpha is None) != (beta is None):
            raise MLMLError("PartialBCE takes both 'alpha' and 'beta' or neither (then g(1)=1, g(0.1)=5).")
        if alpha is None:
            self.alpha, self.beta = LF.partial_bce_coefficients(self.gamma)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.partial_bce(
            logits, targets, weights, reduction=self.reduction, known=known, gamma=self.gamma,
            alpha=self.alpha, beta=self.beta,
        )
