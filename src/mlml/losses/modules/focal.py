"""Focal, ASL (Ben-Baruch et al.), Hill and SPLC (Zhang et al.)."""

from __future__ import annotations

from mlml._params import COUNT
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.modules.base import Criterion, _check_epoch
from mlml.losses.registry import LOSSES


@LOSSES.register("focal")
class Focal(Criterion):
    """Focal loss (:func:`mlml.losses.functional.focal`), γ = 2, no α, factor differentiated (Lin et al.'s
    convention, torchvision's ``sigmoid_focal_loss`` with ``alpha=-1``) by default; see the function for why.
    """

    _parameter_constraints = {**LF.focal._parameter_constraints, "detach_focusing": ["boolean"]}

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, detach_focusing: bool = False,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(gamma=gamma, alpha=alpha, detach_focusing=detach_focusing, reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.focal(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                        gamma=self.gamma, alpha=self.alpha, detach_focusing=self.detach_focusing)


@LOSSES.register("asl")
class ASL(Criterion):
    """Asymmetric loss (:func:`mlml.losses.functional.asymmetric`) with the authors' training recipe by
    default (Alibaba-MIIL/ASL train.py): γ+ = 0, γ- = 4, m = 0.05, focusing factors detached.
    """

    _parameter_constraints = {**LF.asymmetric._parameter_constraints, "detach_focusing": ["boolean"]}

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, margin: float = 0.05,
                 detach_focusing: bool = True, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(gamma_pos=gamma_pos, gamma_neg=gamma_neg, margin=margin, detach_focusing=detach_focusing,
                         reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.asymmetric(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                             gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, margin=self.margin,
                             detach_focusing=self.detach_focusing)


@LOSSES.register("hill")
class Hill(Criterion):
    """Hill loss (:func:`mlml.losses.functional.hill`), λ = 1.5, m = 1, γ = 2 by default."""

    _parameter_constraints = LF.hill._parameter_constraints

    def __init__(self, lam: float = 1.5, margin: float = 1.0, gamma: float = 2.0,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(lam=lam, margin=margin, gamma=gamma, reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.hill(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                       lam=self.lam, margin=self.margin, gamma=self.gamma, suspect=suspect)


@LOSSES.register("splc")
class SPLC(Criterion):
    """Self-paced loss correction (:func:`mlml.losses.functional.splc`).

    The correction is off before epoch ``correction_epoch`` (0-based; default 1, i.e. from the second epoch,
    as in the authors' code: robust-loss-mlml's train.py passes its 0-based epoch to ``SPLC.forward``, whose
    ``change_epoch`` is 1) and on from then; ``start_epoch(epoch)`` switches it. τ = 0.6, m = 1, γ = 2, the
    authors' defaults; τ is fixed (the authors' code has no τ schedule).
    """

    _parameter_constraints = {**LF.splc._parameter_constraints, "correction_epoch": [COUNT]}

    def __init__(self, tau: float = 0.6, correction_epoch: int = 1, margin: float = 1.0, gamma: float = 2.0,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(tau=tau, correction_epoch=correction_epoch, margin=margin, gamma=gamma, reduction=reduction)
        self.epoch_ = 0

    @property
    def correcting(self) -> bool:
        return self.epoch_ >= self.correction_epoch

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, "SPLC")

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.splc(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                       tau=self.tau, margin=self.margin, gamma=self.gamma, correct=self.correcting, suspect=suspect)
