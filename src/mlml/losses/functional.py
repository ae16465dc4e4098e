"""Pure loss functions on logits. Each takes ``(logits, targets, ...)`` with ``targets`` in {0, 1}."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from mlml.exceptions import MLMLError

Reduction = Literal["mean", "sum", "none"]


def weighted_bce(
    logits: Tensor,
    targets: Tensor,
    pos_weight: Tensor | None = None,
    neg_weight: Tensor | None = None,
    *,
    reduction: Reduction = "mean",
) -> Tensor:
    """Confidence-weighted binary cross-entropy, Eq. 2 of Ibrahim et al. (2020).

    ``loss_ic = -[ω_ic y_ic log σ(z_ic) + ω̄_ic (1 - y_ic) log(1 - σ(z_ic))]``, computed from the logits ``z``
    by PyTorch's numerically stable ``binary_cross_entropy_with_logits`` with the per-entry weight
    ``y ω + (1 - y) ω̄``. A zero weight gives exactly zero gradient for its entry.

    Args:
        logits: ``(batch, n_labels)``.
        targets: ``(batch, n_labels)`` in {0, 1}, same dtype as ``logits``.
        pos_weight: ω, ``(batch, n_labels)`` (or broadcastable); None means 1.
        neg_weight: ω̄, ``(batch, n_labels)`` (or broadcastable); None means 1.
        reduction: ``"mean"`` divides the weighted sum by the number of entries ``batch * n_labels`` (as
            PyTorch's BCE does, whatever the weights), ``"sum"`` sums, ``"none"`` returns ``(batch, n_labels)``.
    """
    if reduction not in ("mean", "sum", "none"):
        raise MLMLError(f"The 'reduction' parameter must be 'mean', 'sum' or 'none'. Got {reduction!r} instead.")
    if pos_weight is None and neg_weight is None:
        weight = None
    elif neg_weight is None:
        weight = targets * (pos_weight - 1.0) + 1.0
    elif pos_weight is None:
        weight = neg_weight + targets * (1.0 - neg_weight)
    else:
        weight = neg_weight + targets * (pos_weight - neg_weight)
    return F.binary_cross_entropy_with_logits(logits, targets, weight=weight, reduction=reduction)
