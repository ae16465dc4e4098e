"""Thin ``nn.Module`` wrappers: they hold hyperparameters and state and call the pure functions."""

from __future__ import annotations

import numpy as np
from torch import Tensor, nn

from mlml.losses.functional import Reduction, weighted_bce
from mlml.losses.registry import LOSSES


class Criterion(nn.Module):
    """Base class of every registered loss; the trainer talks to this interface only.

    ``forward(logits, targets, weights=None, *, index=None, known=None)``:

    * ``logits``  -- float ``(batch, n_labels)``;
    * ``targets`` -- float ``(batch, n_labels)`` in {0, 1}: observed positives are 1, everything else 0
      (losses never see -1; unknown entries arrive with zero weight and ``known`` False);
    * ``weights`` -- ``(pos, neg)``: ω and ω̄, each float ``(batch, n_labels)``, from a weight estimator,
      or None for unit weights;
    * ``index``   -- long ``(batch,)``: the rows of the training set in this batch (stateful losses such as
      ROLE keep per-sample state);
    * ``known``   -- bool ``(batch, n_labels)``: False where the label is unknown (-1).

    Hooks the trainer calls: ``setup(observed)`` once before training, with the training rows' observed labels
    (int8 ``(n_samples, n_labels)``, -1 allowed; for per-sample state and label statistics), and
    ``start_epoch(epoch)`` at the start of every epoch (0-based). Both default to no-ops.
    """

    def setup(self, observed: np.ndarray) -> None:
        """Allocate per-sample state or read label statistics (stateful losses only)."""

    def start_epoch(self, epoch: int) -> None:
        """Advance epoch-wise schedules (stateful losses only)."""

    def forward(
        self,
        logits: Tensor,
        targets: Tensor,
        weights: tuple[Tensor, Tensor] | None = None,
        *,
        index: Tensor | None = None,
        known: Tensor | None = None,
    ) -> Tensor:
        raise NotImplementedError


@LOSSES.register("weighted-bce")
class WeightedBCE(Criterion):
    """Eq. 2 (see :func:`mlml.losses.functional.weighted_bce`); plain BCE when no weights are given."""

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        pos, neg = weights if weights is not None else (None, None)
        return weighted_bce(logits, targets, pos, neg, reduction=self.reduction)
