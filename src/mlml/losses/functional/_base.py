"""What every loss shares: the reductions, the entry weight ``w = y ω + (1 − y) ω̄`` and the suspect zeros.

Suspect zeros (``suspect=``): a zero target is either a *suspect zero* (observed ``0``: an assumed negative that
may hide a missing positive) or a *verified negative* (observed ``2``, certain; :mod:`mlml.labels`). Losses that
treat assumed negatives as possibly wrong -- reject, correct, down-weight them or give them a pseudo-positive term
-- do so on the suspect zeros only; ``suspect`` is the boolean ``(batch, n_labels)`` mask of those entries, None
meaning that every zero is suspect (the positive-unlabelled regime). A zero target that is not suspect is treated
as a verified negative; unknown entries (``-1``) are not suspect either, but they arrive with weight 0, so their
treatment never shows.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from mlml._params import Options
from mlml.exceptions import MLMLError

Reduction = Literal["mean", "sum", "none"]
Weights = tuple[Tensor, Tensor] | Tensor | None


#: The declaration of every loss's ``reduction`` (:mod:`mlml._params`).
REDUCTION: dict[str, list[Any]] = {"reduction": [Options("mean", "sum", "none")]}


def _reduce(terms: Tensor, reduction: str) -> Tensor:
    """Reduce a ``(batch, n_labels)`` matrix of terms: mean over all entries, sum, or nothing."""
    if reduction == "mean":
        return terms.mean()
    if reduction == "sum":
        return terms.sum()
    return terms


def entry_weight(targets: Tensor, weights: Weights) -> Tensor | None:
    """The weight of each entry's observed label: ``w = y ω + (1 - y) ω̄`` (None when ``weights`` is None; a
    tensor ``w`` given as ``weights`` is already combined and returned as it is, in the targets' dtype).

    Computed in one pass as ``torch.lerp(ω̄, ω, y)``, which returns ω̄ exactly where ``y = 0`` and ω exactly
    where ``y = 1``. The trainer combines the weights once (per weight refresh, not per batch) and passes ``w``.
    """
    if weights is None:
        return None
    if isinstance(weights, Tensor):
        return weights if weights.dtype == targets.dtype else weights.to(targets.dtype)
    pos, neg = weights
    if pos is None and neg is None:
        return None
    if pos is None:
        pos = torch.ones_like(targets)
    elif pos.dtype != targets.dtype:
        pos = pos.to(targets.dtype)
    if neg is None:
        neg = torch.ones_like(targets)
    elif neg.dtype != targets.dtype:
        neg = neg.to(targets.dtype)
    return torch.lerp(neg, pos, targets)


def suspect_zeros(targets: Tensor, suspect: Tensor | None) -> Tensor:
    """Boolean mask of the suspect zeros: the zero targets, restricted to ``suspect`` when it is given."""
    zeros = targets == 0
    if suspect is None:
        return zeros
    if suspect.shape != targets.shape:
        raise MLMLError(f"'suspect' has shape {tuple(suspect.shape)}; the targets have {tuple(targets.shape)}.")
    return zeros & suspect.to(torch.bool)


def certain_zeros(targets: Tensor, suspect: Tensor | None) -> Tensor | None:
    """Boolean mask of the zero targets that are NOT suspect (verified negatives, and unknown entries, which carry
    weight 0), or None when ``suspect`` is None (every zero is suspect)."""
    if suspect is None:
        return None
    return (targets == 0) & ~suspect_zeros(targets, suspect)


def _weighted(terms: Tensor, targets: Tensor, weights: Weights) -> Tensor:
    w = entry_weight(targets, weights)
    return terms if w is None else terms * w


def _spread(terms: Tensor, penalty: Tensor, reduction: str) -> Tensor:
    """Add a batch-level penalty so that ``mean == mean(terms) + penalty`` and ``sum == numel * mean``."""
    if reduction == "mean":
        return terms.mean() + penalty
    if reduction == "sum":
        return terms.sum() + penalty * terms.numel()
    return terms + penalty
