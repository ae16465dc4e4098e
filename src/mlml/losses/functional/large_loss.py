"""Kim et al., CVPR 2022, "Large Loss Matters in Weakly Supervised Multi-Label Classification": LL-R, LL-Ct
(snucml/LargeLossMatters)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import Options, checks_params
from mlml._validation import check_real as _check_real
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    _reduce,
    entry_weight,
    suspect_zeros,
)


def large_loss_mask(
    logits: Tensor, targets: Tensor, rate: float, *, candidates: Tensor | None = None
) -> Tensor:
    """Boolean ``(batch, n_labels)`` mask of the entries LL-R rejects / LL-Ct corrects.

    The candidates are the assumed negatives (``y = 0``), restricted to ``candidates`` when given. With
    ``k = ceil(rate * batch * n_labels)`` (``rate * batch * n_labels`` rounded to 9 decimals first, so that
    float noise such as ``9 * 0.001 * 1000 = 9.000000000000002`` does not add an entry) and ``ℓ`` the BCE
    against the assumed label 0, every candidate whose ``ℓ`` is at least the k-th largest candidate ``ℓ`` is
    picked, as in the authors' code (snucml/LargeLossMatters, losses.py ``compute_batch_loss``: entries are
    kept only where their loss is ``< topk(...).values[-1]``): ties at the k-th value are all picked, so the
    mask does not depend on the order of the entries. Where ``k`` exceeds the number of candidates every
    candidate is picked and nothing else -- unlike the authors' code, whose threshold then falls to an observed
    positive's masked loss, 0, and modifies every entry of the batch, positives included. Not differentiated.
    """
    rate = _check_real(rate, "rate", "large_loss_mask", low=0.0, high=1.0)
    k = math.ceil(round(rate * logits.numel(), 9))
    mask = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    if k == 0:
        return mask
    eligible = targets == 0
    if candidates is not None:
        eligible = eligible & candidates
    n_eligible = int(eligible.sum())
    if n_eligible == 0:
        return mask
    z = logits.detach()
    losses = F.binary_cross_entropy_with_logits(z, torch.zeros_like(z), reduction="none")
    scores = losses.masked_fill(~eligible, -math.inf)
    threshold = torch.topk(scores.reshape(-1), min(k, n_eligible)).values[-1]
    return eligible & (scores >= threshold)


def large_loss_selection(
    logits: Tensor, targets: Tensor, weights: Weights, rate: float, *, suspect: Tensor | None = None
) -> Tensor:
    """The entries :func:`large_loss` rejects or corrects: :func:`large_loss_mask` over the assumed negatives with a
    non-zero entry weight, restricted to ``suspect`` where given (LL-Cp's module keeps them corrected)."""
    w = entry_weight(targets, weights)
    candidates = None if w is None else w != 0
    if suspect is not None:
        allowed = suspect_zeros(targets, suspect)
        candidates = allowed if candidates is None else candidates & allowed
    return large_loss_mask(logits, targets, rate, candidates=candidates)


@checks_params({**REDUCTION, "mode": [Options("reject", "correct")]})
def large_loss(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    rate: float,
    mode: Literal["reject", "correct"] = "reject",
    suspect: Tensor | None = None,
) -> Tensor:
    """Large loss rejection (LL-R) and temporary correction (LL-Ct), Kim et al. 2022.

    BCE with assumed negatives, ``ℓ = w · BCE(z, y)``, except on the entries picked by
    :func:`large_loss_mask` with rejection ``rate``: LL-R (``mode="reject"``) gives them weight 0, LL-Ct
    (``mode="correct"``) computes them against the label 1 instead (``-log σ(z)``) for this batch only.
    Entries with zero entry weight are never picked, and neither are the zeros outside ``suspect`` (verified
    negatives: the authors' observed negatives, ``-1`` in their ``label_vec``, are never candidates either --
    their ``unobserved_mask`` is ``label_vec == 0``). ``"mean"`` divides by ``batch * n_labels`` (as the
    authors do, rejected entries included). Authors' code: snucml/LargeLossMatters, losses.py
    ``compute_batch_loss``; the ties and ``k`` policy are :func:`large_loss_mask`'s.
    """
    w = entry_weight(targets, weights)
    chosen = large_loss_selection(logits, targets, w, rate, suspect=suspect)
    if mode == "reject":
        terms = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
        terms = terms.masked_fill(chosen, 0.0)
    else:
        corrected = torch.where(chosen, torch.ones_like(targets), targets).to(logits.dtype)
        terms = F.binary_cross_entropy_with_logits(logits, corrected, reduction="none")
    return _reduce(terms if w is None else terms * w, reduction)
