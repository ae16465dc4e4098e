"""Partial BCE (Durand et al. 2019)."""

from __future__ import annotations

from mlml._validation import check_real as _check_real
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

    def __init__(self, gamma: float = 1.0, alpha: float | None = None, beta: float | None = None,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self.gamma = _check_real(gamma, "gamma", "PartialBCE", low=0.0, low_open=True)
        if (alpha is None) != (beta is None):
            raise MLMLError("PartialBCE takes both 'alpha' and 'beta' or neither (then g(1)=1, g(0.1)=5).")
        if alpha is None:
            alpha, beta = LF.partial_bce_coefficients(self.gamma)
        self.alpha, self.beta = alpha, beta
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.partial_bce(
            logits, targets, weights, reduction=self.reduction, known=known, gamma=self.gamma,
            alpha=self.alpha, beta=self.beta,
        )
