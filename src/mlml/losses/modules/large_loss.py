"""LL-R and LL-Ct (Kim et al. 2022) with the authors' schedule."""

from __future__ import annotations

from typing import ClassVar, Literal

from mlml._validation import check_real as _check_real
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.modules.base import Criterion, _check_epoch
from mlml.losses.registry import LOSSES


class _LargeLoss(Criterion):
    """LL-R / LL-Ct (:func:`mlml.losses.functional.large_loss`) with the authors' schedule.

    The rate grows linearly: ``rate(epoch) = min(1, epoch * delta_rel)`` for the 0-based epoch set by
    ``start_epoch`` (0 in the first epoch: plain BCE). That is the authors' schedule (snucml/LargeLossMatters:
    config.py sets ``clean_rate = 1`` and divides ``--delta_rel`` by 100, train.py subtracts it after every
    epoch, losses.py uses ``k = ceil(B C (1 - clean_rate))``), with two differences on purpose: the rate is
    capped at 1 (theirs would ask ``topk`` for more entries than the batch has), and k is not moved by the
    float noise of their repeated subtraction. ``delta_rel`` is a fraction per epoch: the paper's Δ_rel is in
    percent (0.2 % -> ``delta_rel=0.002``; their README sweeps 0.1 to 0.5 %). Ties and ``k`` larger than the
    candidates: see :func:`mlml.losses.functional.large_loss_mask`.
    """

    mode: ClassVar[Literal["reject", "correct"]]

    def __init__(self, delta_rel: float = 0.002, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.delta_rel = _check_real(delta_rel, "delta_rel", type(self).__name__, low=0.0, high=1.0)
        self.reduction = reduction
        self.epoch_ = 0

    @property
    def rate(self) -> float:
        return min(1.0, self.epoch_ * self.delta_rel)

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, type(self).__name__)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.large_loss(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                             rate=self.rate, mode=self.mode, suspect=suspect)


@LOSSES.register("ll-r")
class LargeLossRejection(_LargeLoss):
    """LL-R: the largest assumed-negative losses of the batch get weight 0."""

    mode = "reject"


@LOSSES.register("ll-ct")
class LargeLossCorrection(_LargeLoss):
    """LL-Ct: the largest assumed-negative losses of the batch count against label 1 (this batch only)."""

    mode = "correct"
