"""LL-R and LL-Ct (Kim et al. 2022) with the authors' schedule."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch

from mlml._params import FRACTION
from mlml.exceptions import MLMLError
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

    _parameter_constraints = {**Criterion._parameter_constraints, "delta_rel": [FRACTION]}

    def __init__(self, delta_rel: float = 0.002, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(delta_rel=delta_rel, reduction=reduction)
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


@LOSSES.register("ll-cp")
class LargeLossPermanent(Criterion):
    """LL-Cp (Kim et al. 2022): the largest assumed-negative losses of the batch are corrected to 1 for good.

    From the second epoch on (0-based ``epoch >= 1``; the authors' ``clean_rate`` is 1 in epoch 1), the entries
    :func:`mlml.losses.functional.large_loss_selection` picks with the constant rate ``delta_rel`` are scored
    against label 1 in the batch (as LL-Ct), and those strictly above the k-th largest loss stay positive in every
    later batch: they are no longer candidates and train as positives, with their entry weight. Authors' code:
    snucml/LargeLossMatters, ``losses.py`` ``compute_batch_loss`` (``mod_scheme == 'LL-Cp'``:
    ``k = ceil(B C delta_rel)``; the batch corrects every entry whose loss is not below the k-th largest, but
    ``correction_idx`` holds only those strictly above it, so the k-th entry itself is corrected for this batch
    only), ``train.py`` (``correction_idx`` written as 1 into ``label_matrix_obs``). Corrections are recorded in
    training mode only. ``delta_rel`` as LL-R's (a fraction: their README sweeps 0.1-0.5 %).
    State (``setup``): a boolean ``(n_samples, n_labels)`` buffer, saved with the trainer's checkpoints.
    """

    _parameter_constraints = {**Criterion._parameter_constraints, "delta_rel": [FRACTION]}

    def __init__(self, delta_rel: float = 0.002, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(delta_rel=delta_rel, reduction=reduction)
        self.epoch_ = 0

    @property
    def rate(self) -> float:
        return self.delta_rel if self.epoch_ >= 1 else 0.0

    def setup(self, observed) -> None:  # type: ignore[override]
        self.register_buffer("corrected_", torch.zeros(observed.shape, dtype=torch.bool))

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, "LargeLossPermanent")

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        if not hasattr(self, "corrected_"):
            raise MLMLError("ll-cp keeps its corrections per sample: call setup(observed) before training.")
        if index is None:
            raise MLMLError("ll-cp needs 'index' (the training-set rows of the batch) in forward.")
        rows = index.to(self.corrected_.device)
        done = self.corrected_[rows].to(targets.device)
        y = torch.where(done, torch.ones_like(targets), targets)
        allowed = ~done if suspect is None else suspect.to(torch.bool) & ~done
        w = LF.entry_weight(targets, self._weights(logits, weights, known))  # the weight of the observed label
        chosen = LF.large_loss_selection(logits, y, w, self.rate, suspect=allowed)
        if self.training and chosen.any():  # in eval mode (a validation loss) the corrections are left alone
            losses = torch.nn.functional.softplus(logits.detach())  # BCE against the assumed label 0
            keep = chosen & (losses > losses[chosen].min())  # strictly above the k-th largest, as theirs
            self.corrected_[rows] |= keep.to(self.corrected_.device)
        return LF.large_loss(logits, y, w, reduction=self.reduction, rate=self.rate, mode="correct", suspect=allowed)
