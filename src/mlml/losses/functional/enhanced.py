"""SMILE's classifier loss (Xu et al., NeurIPS 2022; palm-ml/smile ``train_smile2.py`` ``weighted_bce_loss``): BCE
against an enhanced label distribution, the terms of observed zeros down-weighted."""

from __future__ import annotations

from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import Interval, checks_params
from mlml.losses.functional._base import REDUCTION, Reduction, Weights, _reduce, certain_zeros
from mlml.losses.functional.soft import pair_weights


@checks_params({**REDUCTION, "zero_weight": [Interval(Real, 0, 1, closed="right")]})
def enhanced_bce(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    zero_weight: float = 0.1,
    suspect: Tensor | None = None,
) -> Tensor:
    """BCE against a label distribution, as SMILE trains its classifier.

    ``ℓ_ic = s_ic [ω_ic (−log p) + ω̄_ic (−log(1 − p))]`` with ``p = σ(z)`` and ``s = 1`` on observed positives and
    verified negatives, ``s = zero_weight`` on suspect zeros. With the ``smile`` estimator's
    ``(ω, ω̄) = (D, 1 − D)`` -- ``D`` the enhanced labels, on positives too -- this is the authors'
    ``weighted_bce_loss(preds, obs, D, bias, rate)``: ``D (−log p) + (1 − D)(−log(1 − p))`` on every entry, the
    entries with ``obs == 0`` times ``rate`` (``bias = 0``, ``zero_weight = rate``) or ``1/(C − 1)`` (``bias = 1``,
    ``zero_weight = 1/(C − 1)``). A verified negative (never in their data) keeps ω̄ (−log(1 − p)) only (its ω is
    dropped, :func:`~mlml.losses.functional.soft.pair_weights`). A combined weight ``w`` or None means no
    distribution: ``w`` times plain BCE, zeros scaled. ``"mean"`` divides by ``batch * n_labels`` (their
    ``loss_mtx.mean()``); their ``−log(x + 1e-5)`` is exact here (``softplus``).

    Args:
        zero_weight: ``s`` on suspect zeros, in (0, 1] (the authors' ``rate``; 0.1 in their README for yeast,
            CAL500, corel5k, rcv1subset1, mirflickr).
        suspect: the suspect zeros; None: every zero.
    """
    y = targets.to(logits.dtype)
    pos, neg = pair_weights(y, weights, suspect)
    if not isinstance(weights, tuple):  # no distribution: the negative term on zeros only
        neg = neg * (1.0 - y)
    scale = y + (1.0 - y) * zero_weight
    certain = certain_zeros(y, suspect)
    if certain is not None:
        scale = torch.where(certain, torch.ones_like(scale), scale)
    terms = scale * (pos * F.softplus(-logits) + neg * F.softplus(logits))
    return _reduce(terms, reduction)
