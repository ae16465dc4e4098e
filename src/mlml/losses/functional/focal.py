"""Focal loss (Lin et al. 2017), ASL (Ben-Baruch et al. 2021), and the Hill and SPLC losses of Zhang et al. 2021,
"Simple and Robust Loss Design for Multi-Label Learning with Missing Labels"."""

from __future__ import annotations

from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import FRACTION, NON_NEGATIVE, REAL, Interval, checks_params
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    _reduce,
    _weighted,
    certain_zeros,
    suspect_zeros,
)


def _pow_sigmoid(x: Tensor, gamma: float) -> Tensor:
    """``σ(x)^γ`` as ``exp(γ log σ(x))``: finite value and gradient for every x (also for γ < 1)."""
    if gamma == 0.0:
        return torch.ones_like(x)
    return torch.exp(gamma * F.logsigmoid(x))


def _focal_positive(logits: Tensor, gamma: float, margin: float) -> Tensor:
    """``-(1 - p_m)^γ log p_m`` with ``p_m = σ(z - m)`` (focal margin loss of Zhang et al. 2021)."""
    shifted = logits - margin if margin else logits
    return -_pow_sigmoid(-shifted, gamma) * F.logsigmoid(shifted)


@checks_params({**REDUCTION, "gamma": [NON_NEGATIVE], "alpha": [None, FRACTION]})
def focal(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    gamma: float = 2.0,
    alpha: float | None = None,
    detach_focusing: bool = False,
) -> Tensor:
    """Focal loss (Lin et al. 2017), per label.

    ``ℓ_ic = -α_t (1 - p_t)^γ log p_t`` with ``p_t = σ(z)`` where ``y = 1`` and ``1 - σ(z)`` where ``y = 0``,
    ``α_t = α`` for positives and ``1 - α`` for negatives (no class balancing when ``alpha`` is None); times
    the entry weight. ``γ = 0`` and no α is BCE. ``"mean"`` divides by ``batch * n_labels``.

    Convention of the default: Lin et al.'s, as in ``torchvision.ops.sigmoid_focal_loss`` (pytorch/vision,
    torchvision/ops/focal_loss.py, from facebookresearch/fvcore fvcore/nn/focal_loss.py): the factor
    ``(1 - p_t)^γ`` is differentiated -- it is part of the loss whose gradient the paper analyses. No α: the
    detection paper's α = 0.25 was tuned jointly with γ = 2 for dense detection (about 10^5 anchors an image,
    nearly all easy background) and there it *down*-weights positives; the multi-label focal baseline of the
    missing-label papers (xinyu1205/robust-loss-mlml train.py: ``AsymmetricLoss(gamma_neg=2, gamma_pos=2,
    clip=0)``) has none. ``alpha=0.25`` gives torchvision's default exactly. ``detach_focusing=True`` treats the
    factor as a constant: that robust-loss-mlml baseline (its ``AsymmetricLoss`` detaches by default).
    """
    signed = logits * (2.0 * targets - 1.0)  # z_t: log p_t = logsigmoid(z_t), 1 - p_t = σ(-z_t)
    factor = _pow_sigmoid(-signed, gamma)
    if detach_focusing:
        factor = factor.detach()
    terms = -factor * F.logsigmoid(signed)
    if alpha is not None:
        terms = terms * (targets * (2.0 * alpha - 1.0) + (1.0 - alpha))
    return _reduce(_weighted(terms, targets, weights), reduction)


@checks_params({**REDUCTION, "gamma_pos": [NON_NEGATIVE], "gamma_neg": [NON_NEGATIVE], "margin": [FRACTION]})
def asymmetric(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    margin: float = 0.05,
    detach_focusing: bool = True,
) -> Tensor:
    """Asymmetric loss (ASL, Ben-Baruch et al. 2021).

    ``ℓ_ic = -y (1 - p)^γ+ log p - (1 - y) p_m^γ- log(1 - p_m)``, ``p = σ(z)``, with the probability margin
    (shift) ``p_m = max(p - m, 0)``, times the entry weight. Computed as ``log p = logsigmoid(z)`` and
    ``log(1 - p_m) = log(min(σ(-z) + m, 1))`` (``logsigmoid(-z)`` when ``m = 0``), so no clamping of
    probabilities is needed; ``p_m^γ-`` has a zero gradient where ``p ≤ m``. ``"mean"`` divides by
    ``batch * n_labels``.

    The defaults are the authors' training recipe (Alibaba-MIIL/ASL, train.py builds
    ``AsymmetricLoss(gamma_neg=4, gamma_pos=0, clip=0.05, disable_torch_grad_focal_loss=True)`` from
    src/loss_functions/losses.py): γ+ = 0, γ- = 4, m = 0.05 and the focusing factors treated as constants
    (``detach_focusing=True``; the authors turn autograd off globally around them, here it is a local
    ``detach``). ``detach_focusing=False`` differentiates them (same values, other gradients). Known
    differences, on purpose: the authors return ``-loss.sum()`` (ours ``"sum"``; ``"mean"`` is that divided by
    ``batch * n_labels``) and clamp p at 1e-8 inside their logs, which changes a positive's term only below
    z ≈ -18.4 (there theirs stops at 18.42 with zero gradient; ours stays exact).
    """
    focus_pos = _pow_sigmoid(-logits, gamma_pos)
    if margin > 0.0:
        log_neg = torch.log(torch.clamp(torch.sigmoid(-logits) + margin, max=1.0))
        shifted = torch.clamp(torch.sigmoid(logits) - margin, min=0.0)
        if gamma_neg == 0.0:
            focus_neg = torch.ones_like(shifted)
        else:  # p_m^γ with a safe base where p_m = 0 (no 0 * inf in the backward pass)
            positive = shifted > 0
            focus_neg = torch.where(positive, torch.where(positive, shifted, 1.0).pow(gamma_neg), 0.0)
    else:
        log_neg = F.logsigmoid(-logits)
        focus_neg = _pow_sigmoid(logits, gamma_neg)
    if detach_focusing:
        focus_pos, focus_neg = focus_pos.detach(), focus_neg.detach()
    terms = -targets * focus_pos * F.logsigmoid(logits) - (1.0 - targets) * focus_neg * log_neg
    return _reduce(_weighted(terms, targets, weights), reduction)


@checks_params({
    **REDUCTION, "lam": [Interval(Real, 1, None, closed="left")], "margin": [REAL], "gamma": [NON_NEGATIVE],
})
def hill(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    lam: float = 1.5,
    margin: float = 1.0,
    gamma: float = 2.0,
    suspect: Tensor | None = None,
) -> Tensor:
    """Hill loss (Zhang et al. 2021).

    Positives: focal margin loss ``L+ = -(1 - p_m)^γ log p_m`` with ``p_m = σ(z - m)``; negatives: the
    hill-shaped ``L- = (λ - p) p^2`` with ``p = σ(z)``, which gives little weight to confident negatives *and*
    to likely missing positives (p near 1). ``ℓ = y L+ + (1 - y) L-`` times the entry weight; ``"mean"``
    divides by ``batch * n_labels``. Authors' code: xinyu1205/robust-loss-mlml, src/loss_functions/losses.py
    ``Hill.forward`` (λ = 1.5, m = 1, γ = 2; reduction ``'sum'`` by default, our ``"sum"``).

    Zeros outside ``suspect`` (verified negatives) are certain, so the hill, which spares likely positives, is not
    theirs: they get the focal negative ``-p^γ log(1 - p)`` the same authors use for the negatives SPLC keeps.
    """
    p = torch.sigmoid(logits)
    terms = targets * _focal_positive(logits, gamma, margin) + (1.0 - targets) * (lam - p) * p.square()
    certain = certain_zeros(targets, suspect)
    if certain is not None:
        terms = torch.where(certain, -_pow_sigmoid(logits, gamma) * F.logsigmoid(-logits), terms)
    return _reduce(_weighted(terms, targets, weights), reduction)


@checks_params({**REDUCTION, "tau": [FRACTION], "margin": [REAL], "gamma": [NON_NEGATIVE]})
def splc(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    tau: float = 0.6,
    margin: float = 1.0,
    gamma: float = 2.0,
    correct: bool = True,
    suspect: Tensor | None = None,
) -> Tensor:
    """Self-paced loss correction (SPLC, Zhang et al. 2021), as the authors compute it.

    With ``p = σ(z)``, the focal margin loss ``L+_m = -(1 - p_m)^γ log p_m`` (``p_m = σ(z - m)``), the plain
    focal positive ``L+ = -(1 - p)^γ log p`` and the focal negative ``L- = -p^γ log(1 - p)``:
    ``ℓ = y L+_m + (1 - y) [1(p ≤ τ) L- + 1(p > τ) L+]``. An observed positive is scored with the margin; an
    observed zero the model already scores above τ is treated as a (missing) positive *without* the margin:
    the authors (xinyu1205/robust-loss-mlml, src/loss_functions/losses.py, ``SPLC.forward``) subtract the
    margin where the target is 1 and only then correct the targets. The decision ``p > τ`` is not
    differentiated; the focusing factors are (as in their code). ``correct=False`` disables the correction (the
    loss before SPLC's start epoch); only the zeros in ``suspect`` are ever corrected (a verified negative never
    is). The entry weight is the observed label's (ω̄ for a corrected entry).
    ``"mean"`` divides by ``batch * n_labels``; the authors' default reduction is the sum (``"sum"`` here).
    """
    positive = targets == 1
    terms = torch.where(
        positive,
        _focal_positive(logits, gamma, margin),
        -_pow_sigmoid(logits, gamma) * F.logsigmoid(-logits),
    )
    if correct:
        corrected = suspect_zeros(targets, suspect) & (torch.sigmoid(logits.detach()) > tau)
        terms = torch.where(corrected, _focal_positive(logits, gamma, 0.0), terms)
    return _reduce(_weighted(terms, targets, weights), reduction)
