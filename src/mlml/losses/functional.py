"""Pure loss functions on logits. Each takes ``(logits, targets, ...)`` with ``targets`` in {0, 1}.

Common conventions (the trainer's contract, see docs/architecture.md):

* ``logits`` and ``targets`` are float ``(batch, n_labels)``; ``targets`` is 1 for an observed positive and 0
  otherwise (a 0 may hide a missing positive). Losses never see -1: unknown entries arrive with zero weight.
* One signature for every loss: ``fn(logits, targets, weights=None, *, reduction="mean", ...)``. ``weights`` is
  the pair ``(ω, ω̄)`` -- each ``(batch, n_labels)`` or broadcastable --, or one tensor ``w`` that already
  combines them (:func:`entry_weight`; what the trainer passes, computed once), or None: unit weights, the one
  default. Every loss here is a sum of per-entry terms ``ℓ_ic`` and multiplies each by the entry weight
  ``w_ic = y_ic ω_ic + (1 - y_ic) ω̄_ic`` (the weight of the entry's *observed* label; losses that correct
  labels -- SPLC, LL-Ct -- keep the entry's weight after the correction). Batch-level regularisers (EPR,
  ROLE) are not weighted. A zero weight therefore removes the entry's term and its gradient exactly. The soft
  losses (:func:`soft_bce`, :func:`soft_asl`) also READ ω on observed zeros, as the weight of a pseudo-positive
  term, so they need the pair; a combined ``w`` means ω = y w, ω̄ = w for them (no pseudo-positive: the plain
  loss, weighted).
* ``reduction``: ``"none"`` returns the ``(batch, n_labels)`` matrix of terms, ``"sum"`` its sum and
  ``"mean"`` its sum divided by ``batch * n_labels`` (the number of entries, whatever the weights) unless
  the docstring says otherwise; so ``mean * batch * n_labels == sum`` for every loss here.

Numerical stability: every term is written with ``logsigmoid``/``softplus`` of the logits, and every
focusing factor ``p^γ`` as ``exp(γ log p)``, so the values and gradients stay finite at logits of ±100.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._validation import check_real as _check_real
from mlml.exceptions import MLMLError

Reduction = Literal["mean", "sum", "none"]
Weights = tuple[Tensor, Tensor] | Tensor | None

# Below this many entries the custom autograd.Function of ``weighted_bce`` costs more in Python overhead
# than the memory passes it saves, so the composite path is used (benchmarks/bench_loss.py measures both).
FUSED_MIN_NUMEL = 1 << 16


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise MLMLError(
            f"The 'reduction' parameter must be 'mean', 'sum' or 'none'. Got {reduction!r} instead."
        )


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


def _weighted(terms: Tensor, targets: Tensor, weights: Weights) -> Tensor:
    w = entry_weight(targets, weights)
    return terms if w is None else terms * w


# --------------------------------------------------------------------------------------------------------
# Eq. 2: weighted binary cross-entropy (also AN, the "assume negative" loss, with unit weights)
# --------------------------------------------------------------------------------------------------------


class _FusedWeightedBCE(torch.autograd.Function):
    """Sum of ``w (softplus(z) - y z)`` times ``scale``, its gradient ``scale w (σ(z) - y)`` in three passes.

    PyTorch's ``binary_cross_entropy_with_logits`` is a composite of about five element-wise passes forward
    and as many backward; this Function does three forward (softplus, the ``- y z`` update in place, a dot
    product with the weight) and three backward (sigmoid, ``- y`` in place, the weight and scale in one
    ``addcmul``), which pays for reading the weight. Double backward is not supported.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, logits: Tensor, targets: Tensor, weight: Tensor | None, scale: float
    ) -> Tensor:
        terms = F.softplus(logits)
        terms.addcmul_(targets, logits, value=-1.0)
        if weight is None:
            total = terms.sum()
        else:
            total = torch.dot(terms.reshape(-1), weight.reshape(-1))
        ctx.save_for_backward(logits, targets, weight)
        ctx.scale = scale
        return total * scale

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        logits, targets, weight = ctx.saved_tensors
        grad = torch.sigmoid(logits)
        grad.sub_(targets)
        if grad_output.device.type == "cpu":
            factor = float(grad_output) * ctx.scale
            if weight is None:
                grad.mul_(factor)
            else:  # weight and scale in one pass: 0 + factor * grad * weight
                grad = torch.addcmul(grad.new_zeros(()), grad, weight, value=factor)
        else:  # no host sync on accelerators
            if weight is not None:
                grad.mul_(weight)
            grad.mul_(grad_output * ctx.scale)
        return grad, None, None, None


def weighted_bce(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
) -> Tensor:
    """Confidence-weighted binary cross-entropy, Eq. 2 of Ibrahim et al. (2020).

    ``loss_ic = -[ω_ic y_ic log σ(z_ic) + ω̄_ic (1 - y_ic) log(1 - σ(z_ic))]
    = w_ic (softplus(z_ic) - y_ic z_ic)`` with ``w = y ω + (1 - y) ω̄``. With unit weights this is plain BCE,
    i.e. AN ("assume negative", Cole et al. 2021). A zero weight gives exactly zero gradient for its entry.
    Checked against the seed code's ``weighted_loss`` (KarimMibrahim/Sample-level-weighted-loss,
    ``IM-WCE-MSCOCO.ipynb``; see docs/losses.md).

    For ``"mean"``/``"sum"`` on large batches (at least ``FUSED_MIN_NUMEL`` entries, a weight of the logits'
    shape not requiring grad) a fused autograd Function computes the loss and its gradient in fewer memory passes
    than ``binary_cross_entropy_with_logits``; otherwise the latter is called with the entry weight. Both give
    the same values up to float rounding. Passing the combined weight ``w`` saves the pass that combines ω and ω̄.

    Args:
        logits: ``(batch, n_labels)``.
        targets: ``(batch, n_labels)`` in {0, 1} (cast to the logits' dtype).
        weights: ``(ω, ω̄)`` (either may be None for 1), the combined entry weight ``w``, or None (unit weights);
            each ``(batch, n_labels)`` or broadcastable.
        reduction: ``"mean"`` divides the weighted sum by the number of entries ``batch * n_labels`` (as
            PyTorch's BCE does, whatever the weights), ``"sum"`` sums, ``"none"`` returns the terms.
    """
    _check_reduction(reduction)
    if targets.dtype != logits.dtype:
        targets = targets.to(logits.dtype)
    w = entry_weight(targets, weights)
    if (
        reduction != "none"
        and logits.numel() >= FUSED_MIN_NUMEL
        and targets.shape == logits.shape
        and not targets.requires_grad
        and (w is None or (w.shape == logits.shape and not w.requires_grad))
    ):
        scale = 1.0 / logits.numel() if reduction == "mean" else 1.0
        return _FusedWeightedBCE.apply(logits, targets, w, scale)
    return F.binary_cross_entropy_with_logits(logits, targets, weight=w, reduction=reduction)


# --------------------------------------------------------------------------------------------------------
# Cole et al., CVPR 2021, "Multi-Label Learning from Single Positive Labels": AN-LS, WAN, EPR, ROLE
# --------------------------------------------------------------------------------------------------------


def an_ls(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    epsilon: float = 0.1,
    smooth_positives: bool = True,
) -> Tensor:
    """Assume negative with label smoothing (AN-LS, Cole et al. 2021).

    ``ℓ_ic = BCE(z_ic, t_ic)`` with the smoothed target ``t = (1 - ε) y + ε (1 - y)``, i.e. for an assumed
    negative ``-(1 - ε) log(1 - σ(z)) - ε log σ(z)``, and symmetrically for an observed positive (as in the
    authors' code: elijahcole/single-positive-multi-label, losses.py ``loss_an_ls``, ``ls_coef = 0.1`` in
    train.py); ``smooth_positives=False`` smooths the assumed negatives only (``t = 1`` where ``y = 1``).
    Entry weight ``w = y ω + (1 - y) ω̄``. ``"mean"`` divides by ``batch * n_labels`` (their
    ``compute_batch_loss``). Their logs are ``-log(x + 1e-5)``; ours exact (see docs/losses.md).
    """
    _check_reduction(reduction)
    epsilon = _check_real(epsilon, "epsilon", "an_ls", low=0.0, high=1.0)
    if smooth_positives:
        smoothed = targets * (1.0 - 2.0 * epsilon) + epsilon
    else:
        smoothed = targets + (1.0 - targets) * epsilon
    terms = F.binary_cross_entropy_with_logits(logits, smoothed.to(logits.dtype), reduction="none")
    return _reduce(_weighted(terms, targets, weights), reduction)


def wan(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    neg_scale: float | None = None,
) -> Tensor:
    """Weak assume negative (WAN, Cole et al. 2021): assumed negatives down-weighted by ``γ = 1/(C - 1)``.

    ``ℓ_ic = -[y log σ(z) + γ (1 - y) log(1 - σ(z))]`` with ``C = n_labels`` (or ``γ = neg_scale``), times
    the entry weight. ``"mean"`` divides by ``batch * n_labels``. Authors' code:
    elijahcole/single-positive-multi-label, losses.py ``loss_wan`` (``/ (num_classes - 1)``).
    """
    _check_reduction(reduction)
    n_labels = logits.shape[-1]
    if neg_scale is None:
        if n_labels < 2:
            raise MLMLError(
                f"wan needs at least 2 labels for its default neg_scale 1/(C-1). Got C = {n_labels}."
            )
        gamma = 1.0 / (n_labels - 1)
    else:
        gamma = _check_real(neg_scale, "neg_scale", "wan", low=0.0)
    terms = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    terms = terms * (targets + (1.0 - targets) * gamma)
    return _reduce(_weighted(terms, targets, weights), reduction)


def expected_positive_penalty(probabilities: Tensor, expected_positives: float) -> Tensor:
    """The EPR regulariser ``R_k = ((1/B) Σ_n Σ_c p_nc - k)^2 / C^2`` on a ``(B, C)`` batch (a 0-d tensor)."""
    n_labels = probabilities.shape[-1]
    return (probabilities.sum(dim=-1).mean() - expected_positives).square() / (n_labels**2)


def _spread(terms: Tensor, penalty: Tensor, reduction: str) -> Tensor:
    """Add a batch-level penalty so that ``mean == mean(terms) + penalty`` and ``sum == numel * mean``."""
    if reduction == "mean":
        return terms.mean() + penalty
    if reduction == "sum":
        return terms.sum() + penalty * terms.numel()
    return terms + penalty


def epr(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    expected_positives: float,
    lam: float = 1.0,
) -> Tensor:
    """Expected positive regularisation (EPR, Cole et al. 2021).

    ``L = (1/(B C)) Σ_nc w_nc y_nc (-log σ(z_nc)) + λ R_k``, ``R_k = ((1/B) Σ_n Σ_c σ(z_nc) - k)^2 / C^2``:
    observed positives only, plus a batch-level penalty pulling the batch's mean number of predicted positives
    towards ``k = expected_positives``. Assumed negatives get no term (ω̄ is unused). Authors' code:
    elijahcole/single-positive-multi-label, losses.py ``loss_epr`` (λ = 1 there), where k is a per-data-set
    constant (train.py ``expected_num_pos``).

    Reductions: ``"mean"`` is the formula above (data term divided by ``batch * n_labels``); ``"none"``
    returns the data terms with ``λ R_k`` added to every entry, so that its mean is ``"mean"``; ``"sum"`` is
    ``batch * n_labels`` times ``"mean"``.
    """
    _check_reduction(reduction)
    k = _check_real(expected_positives, "expected_positives", "epr", low=0.0)
    lam = _check_real(lam, "lam", "epr", low=0.0)
    terms = targets * F.softplus(-logits)
    terms = _weighted(terms, targets, weights)
    penalty = lam * expected_positive_penalty(torch.sigmoid(logits), k)
    return _spread(terms, penalty, reduction)


def role(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    label_logits: Tensor,
    expected_positives: float,
    lam: float = 1.0,
) -> Tensor:
    """Regularised online label estimation (ROLE, Cole et al. 2021).

    With predictions ``f = σ(z)``, label estimates ``ỹ = σ(θ)`` (``θ = label_logits``, learned jointly) and
    ``sg`` the stop-gradient:
    ``ℓ_nc = ½ w_nc [y (-log f) + y (-log ỹ)] + ½ w_nc [BCE(f; sg ỹ) + BCE(ỹ; sg f)]`` and the batch penalty
    ``½ λ (R_k(f) + R_k(ỹ))`` (see :func:`expected_positive_penalty`). The first bracket fits both to the
    observed positives, the second makes the classifier and the label estimates agree. Reductions as in
    :func:`epr` (``"mean"`` divides the terms by ``batch * n_labels`` and adds the penalty). Authors' code:
    elijahcole/single-positive-multi-label, losses.py ``loss_role``; the entry weight multiplies every term of
    the entry (the authors have no weights: an unknown entry of ours, weight 0, gets no agreement term).

    Args:
        label_logits: θ for the batch rows, ``(batch, n_labels)``; gradients flow into it.
    """
    _check_reduction(reduction)
    if label_logits.shape != logits.shape:
        raise MLMLError(
            f"role: label_logits has shape {tuple(label_logits.shape)}; expected {tuple(logits.shape)}."
        )
    k = _check_real(expected_positives, "expected_positives", "role", low=0.0)
    lam = _check_real(lam, "lam", "role", low=0.0)
    f = torch.sigmoid(logits)
    estimates = torch.sigmoid(label_logits)
    positive = targets * (F.softplus(-logits) + F.softplus(-label_logits))
    agree = F.binary_cross_entropy_with_logits(logits, estimates.detach(), reduction="none")
    agree = agree + F.binary_cross_entropy_with_logits(label_logits, f.detach(), reduction="none")
    terms = _weighted(0.5 * (positive + agree), targets, weights)
    penalty = 0.5 * lam * (expected_positive_penalty(f, k) + expected_positive_penalty(estimates, k))
    return _spread(terms, penalty, reduction)


# --------------------------------------------------------------------------------------------------------
# Focal loss (Lin et al. 2017) and ASL (Ben-Baruch et al. 2021)
# --------------------------------------------------------------------------------------------------------


def _pow_sigmoid(x: Tensor, gamma: float) -> Tensor:
    """``σ(x)^γ`` as ``exp(γ log σ(x))``: finite value and gradient for every x (also for γ < 1)."""
    if gamma == 0.0:
        return torch.ones_like(x)
    return torch.exp(gamma * F.logsigmoid(x))


def _focal_positive(logits: Tensor, gamma: float, margin: float) -> Tensor:
    """``-(1 - p_m)^γ log p_m`` with ``p_m = σ(z - m)`` (focal margin loss of Zhang et al. 2021)."""
    shifted = logits - margin if margin else logits
    return -_pow_sigmoid(-shifted, gamma) * F.logsigmoid(shifted)


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
    _check_reduction(reduction)
    gamma = _check_real(gamma, "gamma", "focal", low=0.0)
    signed = logits * (2.0 * targets - 1.0)  # z_t: log p_t = logsigmoid(z_t), 1 - p_t = σ(-z_t)
    factor = _pow_sigmoid(-signed, gamma)
    if detach_focusing:
        factor = factor.detach()
    terms = -factor * F.logsigmoid(signed)
    if alpha is not None:
        alpha = _check_real(alpha, "alpha", "focal", low=0.0, high=1.0)
        terms = terms * (targets * (2.0 * alpha - 1.0) + (1.0 - alpha))
    return _reduce(_weighted(terms, targets, weights), reduction)


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
    _check_reduction(reduction)
    gamma_pos = _check_real(gamma_pos, "gamma_pos", "asymmetric", low=0.0)
    gamma_neg = _check_real(gamma_neg, "gamma_neg", "asymmetric", low=0.0)
    margin = _check_real(margin, "margin", "asymmetric", low=0.0, high=1.0)
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


# --------------------------------------------------------------------------------------------------------
# Zhang et al. 2021, "Simple and Robust Loss Design for Multi-Label Learning with Missing Labels"
# --------------------------------------------------------------------------------------------------------


def hill(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    lam: float = 1.5,
    margin: float = 1.0,
    gamma: float = 2.0,
) -> Tensor:
    """Hill loss (Zhang et al. 2021).

    Positives: focal margin loss ``L+ = -(1 - p_m)^γ log p_m`` with ``p_m = σ(z - m)``; negatives: the
    hill-shaped ``L- = (λ - p) p^2`` with ``p = σ(z)``, which gives little weight to confident negatives *and*
    to likely missing positives (p near 1). ``ℓ = y L+ + (1 - y) L-`` times the entry weight; ``"mean"``
    divides by ``batch * n_labels``. Authors' code: xinyu1205/robust-loss-mlml, src/loss_functions/losses.py
    ``Hill.forward`` (λ = 1.5, m = 1, γ = 2; reduction ``'sum'`` by default, our ``"sum"``).
    """
    _check_reduction(reduction)
    lam = _check_real(lam, "lam", "hill", low=1.0)
    margin = _check_real(margin, "margin", "hill")
    gamma = _check_real(gamma, "gamma", "hill", low=0.0)
    p = torch.sigmoid(logits)
    terms = targets * _focal_positive(logits, gamma, margin) + (1.0 - targets) * (lam - p) * p.square()
    return _reduce(_weighted(terms, targets, weights), reduction)


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
) -> Tensor:
    """Self-paced loss correction (SPLC, Zhang et al. 2021), as the authors compute it.

    With ``p = σ(z)``, the focal margin loss ``L+_m = -(1 - p_m)^γ log p_m`` (``p_m = σ(z - m)``), the plain
    focal positive ``L+ = -(1 - p)^γ log p`` and the focal negative ``L- = -p^γ log(1 - p)``:
    ``ℓ = y L+_m + (1 - y) [1(p ≤ τ) L- + 1(p > τ) L+]``. An observed positive is scored with the margin; an
    observed zero the model already scores above τ is treated as a (missing) positive *without* the margin:
    the authors (xinyu1205/robust-loss-mlml, src/loss_functions/losses.py, ``SPLC.forward``) subtract the
    margin where the target is 1 and only then correct the targets. The decision ``p > τ`` is not
    differentiated; the focusing factors are (as in their code). ``correct=False`` disables the correction (the
    loss before SPLC's start epoch). The entry weight is the observed label's (ω̄ for a corrected entry).
    ``"mean"`` divides by ``batch * n_labels``; the authors' default reduction is the sum (``"sum"`` here).
    """
    _check_reduction(reduction)
    tau = _check_real(tau, "tau", "splc", low=0.0, high=1.0)
    margin = _check_real(margin, "margin", "splc")
    gamma = _check_real(gamma, "gamma", "splc", low=0.0)
    positive = targets == 1
    terms = torch.where(
        positive,
        _focal_positive(logits, gamma, margin),
        -_pow_sigmoid(logits, gamma) * F.logsigmoid(-logits),
    )
    if correct:
        corrected = ~positive & (torch.sigmoid(logits.detach()) > tau)
        terms = torch.where(corrected, _focal_positive(logits, gamma, 0.0), terms)
    return _reduce(_weighted(terms, targets, weights), reduction)


# --------------------------------------------------------------------------------------------------------
# Kim et al., CVPR 2022, "Large Loss Matters in Weakly Supervised Multi-Label Classification"
# --------------------------------------------------------------------------------------------------------


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


def large_loss(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    rate: float,
    mode: Literal["reject", "correct"] = "reject",
) -> Tensor:
    """Large loss rejection (LL-R) and temporary correction (LL-Ct), Kim et al. 2022.

    BCE with assumed negatives, ``ℓ = w · BCE(z, y)``, except on the entries picked by
    :func:`large_loss_mask` with rejection ``rate``: LL-R (``mode="reject"``) gives them weight 0, LL-Ct
    (``mode="correct"``) computes them against the label 1 instead (``-log σ(z)``) for this batch only.
    Entries with zero entry weight are never picked. ``"mean"`` divides by ``batch * n_labels`` (as the
    authors do, rejected entries included). Authors' code: snucml/LargeLossMatters, losses.py
    ``compute_batch_loss``; the ties and ``k`` policy are :func:`large_loss_mask`'s.
    """
    _check_reduction(reduction)
    if mode not in ("reject", "correct"):
        raise MLMLError(
            f"The 'mode' parameter of large_loss must be 'reject' or 'correct'. Got {mode!r} instead."
        )
    w = entry_weight(targets, weights)
    chosen = large_loss_mask(logits, targets, rate, candidates=None if w is None else w != 0)
    if mode == "reject":
        terms = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
        terms = terms.masked_fill(chosen, 0.0)
    else:
        corrected = torch.where(chosen, torch.ones_like(targets), targets).to(logits.dtype)
        terms = F.binary_cross_entropy_with_logits(logits, corrected, reduction="none")
    return _reduce(terms if w is None else terms * w, reduction)


# --------------------------------------------------------------------------------------------------------
# Durand et al., CVPR 2019, "Learning a Deep ConvNet for Multi-label Classification with Partial Labels"
# --------------------------------------------------------------------------------------------------------


def partial_bce_coefficients(gamma: float = 1.0) -> tuple[float, float]:
    """α, β of ``g(p) = α p^γ + β`` fixed, as in Durand et al., by ``g(1) = 1`` and ``g(0.1) = 5``."""
    gamma = _check_real(gamma, "gamma", "partial_bce_coefficients", low=0.0, low_open=True)
    alpha = -4.0 / (1.0 - 0.1**gamma)
    return alpha, 1.0 - alpha


def partial_bce(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    known: Tensor | None = None,
    gamma: float = 1.0,
    alpha: float | None = None,
    beta: float | None = None,
) -> Tensor:
    """Partial BCE (Durand et al. 2019), normalised by the proportion of known labels.

    No official code is published; this is the paper's formula (its third-party ports round α, β to -4.45,
    5.45, i.e. g(0.1) = 5.005; we solve g(0.1) = 5 exactly).

    ``L_n = g(p_n)/C Σ_{c known} BCE(z_nc, y_nc)`` with ``p_n`` the proportion of known labels of sample n and
    ``g(p) = α p^γ + β``; by default α, β solve ``g(1) = 1`` and ``g(0.1) = 5`` (the paper's choice, see
    :func:`partial_bce_coefficients`), so samples with few known labels weigh more. Entries where ``known`` is
    False get no term (all entries are known when ``known`` is None: plain BCE). Times the entry weight.
    ``"none"`` returns ``g(p_n) BCE(z_nc, y_nc)`` per entry; ``"mean"`` divides by ``batch * n_labels``, i.e.
    it is the mean over samples of ``L_n``.
    """
    _check_reduction(reduction)
    if (alpha is None) != (beta is None):
        raise MLMLError("partial_bce takes both 'alpha' and 'beta' or neither (then g(1) = 1, g(0.1) = 5).")
    if alpha is None:
        alpha, beta = partial_bce_coefficients(gamma)
    gamma = _check_real(gamma, "gamma", "partial_bce", low=0.0, low_open=True)
    terms = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    if known is not None:
        if known.shape != logits.shape:
            raise MLMLError(
                f"partial_bce: known has shape {tuple(known.shape)}; expected {tuple(logits.shape)}."
            )
        known_f = known.to(logits.dtype)
        proportion = known_f.mean(dim=-1, keepdim=True)
        terms = terms * known_f * (alpha * proportion.pow(gamma) + beta)
    return _reduce(_weighted(terms, targets, weights), reduction)


# --------------------------------------------------------------------------------------------------------
# Ours: soft pseudo-labels on observed zeros (the M-step of the knn-pu-em methods)
# --------------------------------------------------------------------------------------------------------


def pair_weights(targets: Tensor, weights: Weights) -> tuple[Tensor, Tensor]:
    """``(ω, ω̄)`` for the soft losses: as given; ``(y w, w)`` for a combined weight ``w`` (no pseudo-positive
    term: the plain loss, weighted); ``(y, 1)`` for None."""
    if weights is None:
        return targets, torch.ones_like(targets)
    if isinstance(weights, Tensor):
        w = weights.to(targets.dtype)
        return targets * w, w
    pos, neg = weights
    return pos.to(targets.dtype), neg.to(targets.dtype)


def soft_bce(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
) -> Tensor:
    """Binary cross-entropy whose positive term also applies to observed zeros, with weight ω there (ours).

    ``loss_ic = −[ω_ic log σ(z_ic) + ω̄_ic (1 − y_ic) log(1 − σ(z_ic))]
    = ω_ic softplus(−z_ic) + ω̄_ic (1 − y_ic) softplus(z_ic)``.

    On an observed positive (``y = 1``) this is Eq. 2's positive term. On an observed zero, ω is the weight
    of a pseudo-positive term: with ``ω = q`` and ``ω̄ = 1 − q`` it is the cross-entropy against the soft
    target ``q``. Unlike Eq. 2 (``weighted_bce``), ω on observed zeros is READ, so the weights must come from
    an estimator that sets it on purpose (``pu-adaptive``/``knn-pu-adaptive`` with ``pseudo_positive > 0``);
    with ``weights=None`` or a combined weight (see :func:`pair_weights`) it is plain (weighted) BCE. A zero
    (ω, ω̄) gives exactly zero gradient.

    Args:
        logits: ``(batch, n_labels)``.
        targets: ``(batch, n_labels)`` in {0, 1}.
        weights: ``(ω, ω̄)``, each ``(batch, n_labels)``, a combined weight, or None.
        reduction: ``"mean"`` divides the sum by ``batch * n_labels`` (as ``weighted_bce``), ``"sum"`` sums,
            ``"none"`` returns the ``(batch, n_labels)`` terms.
    """
    _check_reduction(reduction)
    targets = targets.to(logits.dtype)
    pos, neg = pair_weights(targets, weights)
    # ω softplus(−z) + ω̄ (1 − y) softplus(z) with softplus(−z) = softplus(z) − z: one softplus, not two
    terms = (pos + neg * (1.0 - targets)) * F.softplus(logits) - pos * logits
    return _reduce(terms, reduction)


def soft_asl(
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
    """ASL's asymmetric focusing (Ben-Baruch et al. 2021) with soft pseudo-labels on observed zeros (ours).

    ``loss_ic = −[ω_ic (1 − p)^γ+ log p + ω̄_ic (1 − y_ic) p_m^γ− log(1 − p_m)]``, ``p = σ(z_ic)``,
    ``p_m = max(p − m, 0)``: :func:`soft_bce` with ASL's positive and negative terms in place of BCE's. Both
    terms are :func:`asymmetric`'s own (evaluated with all-one and all-zero targets), so the focusing, the margin
    and their numerical treatment are ASL's exactly. As in :func:`soft_bce`, ω on observed zeros is READ (with
    ``ω = q``, ``ω̄ = 1 − q`` it is a soft pseudo-positive of weight q); with the indicator weights ``(y, 1 − y)``
    or ``weights=None`` it is :func:`asymmetric` unweighted. A zero (ω, ω̄) gives exactly zero gradient.

    Args:
        logits: ``(batch, n_labels)``.
        targets: ``(batch, n_labels)`` in {0, 1}.
        weights: ``(ω, ω̄)``, each ``(batch, n_labels)``, a combined weight, or None (``ω = y``, ``ω̄ = 1``).
        reduction: ``"mean"`` divides the sum by ``batch * n_labels``, ``"sum"`` sums, ``"none"`` returns the
            ``(batch, n_labels)`` terms.
        gamma_pos: ``γ+ ≥ 0``, focusing of the positive term.
        gamma_neg: ``γ− ≥ 0``, focusing of the negative term.
        margin: ``m`` in [0, 1], the probability shift of the negative term.
        detach_focusing: treat the focusing factors as constants (default, ASL's training recipe; see
            ``asymmetric``); False differentiates them.
    """
    _check_reduction(reduction)
    targets = targets.to(logits.dtype)
    pos, neg = pair_weights(targets, weights)
    options = dict(reduction="none", gamma_pos=gamma_pos, gamma_neg=gamma_neg, margin=margin,
                   detach_focusing=detach_focusing)
    positive = asymmetric(logits, torch.ones_like(logits), **options)  # −(1 − p)^γ+ log p
    negative = asymmetric(logits, torch.zeros_like(logits), **options)  # −p_m^γ− log(1 − p_m)
    terms = pos * positive + neg * (1.0 - targets) * negative
    return _reduce(terms, reduction)
