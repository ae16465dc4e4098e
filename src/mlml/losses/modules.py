"""Thin ``nn.Module`` wrappers: they hold hyperparameters and state and call the pure functions."""

from __future__ import annotations

from torch import Tensor, nn


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

    Hooks the trainer calls: ``setup(n_samples, n_labels)`` once before training, ``start_epoch(epoch)`` at
    the start of every epoch (0-based). Both default to no-ops.
    """

    def setup(self, n_samples: int, n_labels: int) -> None:
        """Allocate per-sample state (stateful losses only)."""

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

