"""Cole et al., CVPR 2021, "Multi-Label Learning from Single Positive Labels": AN-LS, WAN, EPR, ROLE
(elijahcole/single-positive-multi-label, ``losses.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import FRACTION, NON_NEGATIVE, checks_params
from mlml.exceptions import MLMLError
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    _reduce,
    _spread,
    _weighted,
    certain_zeros,
)


@checks_params({**REDUCTION, "epsilon": [FRACTION]})
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
    if smooth_positives:
        smoothed = targets * (1.0 - 2.0 * epsilon) + epsilon
    else:
        smoothed = targets + (1.0 - targets) * epsilon
    terms = F.binary_cross_entropy_with_logits(logits, smoothed.to(logits.dtype), reduction="none")
    return _reduce(_weighted(terms, targets, weights), reduction)


@checks_params({**REDUCTION, "neg_scale": [None, NON_NEGATIVE]})
def wan(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    neg_scale: float | None = None,
    suspect: Tensor | None = None,
) -> Tensor:
    """Weak assume negative (WAN, Cole et al. 2021): assumed negatives down-weighted by ``γ = 1/(C - 1)``.

    ``ℓ_ic = -[y log σ(z) + γ (1 - y) log(1 - σ(z))]`` with ``C = n_labels`` (or ``γ = neg_scale``), times
    the entry weight. ``"mean"`` divides by ``batch * n_labels``. Authors' code:
    elijahcole/single-positive-multi-label, losses.py ``loss_wan`` (``/ (num_classes - 1)``). Only the zeros in
    ``suspect`` are assumed negatives; the others (verified negatives) keep weight 1 -- the authors' observed
    negatives (their ``iu`` loss) get the full ``-log(1 - σ(z))``.
    """
    n_labels = logits.shape[-1]
    if neg_scale is None:
        if n_labels < 2:
            raise MLMLError(
                f"wan needs at least 2 labels for its default neg_scale 1/(C-1). Got C = {n_labels}."
            )
        gamma = 1.0 / (n_labels - 1)
    else:
        gamma = neg_scale
    terms = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    scale = targets + (1.0 - targets) * gamma
    certain = certain_zeros(targets, suspect)
    if certain is not None:
        scale = torch.where(certain, torch.ones_like(scale), scale)
    terms = terms * scale
    return _reduce(_weighted(terms, targets, weights), reduction)


def expected_positive_penalty(probabilities: Tensor, expected_positives: float) -> Tensor:
    """The EPR regulariser ``R_k = ((1/B) Σ_n Σ_c p_nc - k)^2 / C^2`` on a ``(B, C)`` batch (a 0-d tensor)."""
    n_labels = probabilities.shape[-1]
    return (probabilities.sum(dim=-1).mean() - expected_positives).square() / (n_labels**2)


@checks_params({**REDUCTION, "expected_positives": [NON_NEGATIVE], "lam": [NON_NEGATIVE]})
def epr(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    expected_positives: float,
    lam: float = 1.0,
    suspect: Tensor | None = None,
) -> Tensor:
    """Expected positive regularisation (EPR, Cole et al. 2021).

    ``L = (1/(B C)) Σ_nc w_nc y_nc (-log σ(z_nc)) + λ R_k``, ``R_k = ((1/B) Σ_n Σ_c σ(z_nc) - k)^2 / C^2``:
    observed positives only, plus a batch-level penalty pulling the batch's mean number of predicted positives
    towards ``k = expected_positives``. Assumed negatives get no term (ω̄ is unused). Authors' code:
    elijahcole/single-positive-multi-label, losses.py ``loss_epr`` (λ = 1 there), where k is a per-data-set
    constant (train.py ``expected_num_pos``). Zeros outside ``suspect`` (verified negatives, which the authors'
    single-positive data never has) are known labels and get ``w (-log(1 - σ(z)))``, as their ``iu`` loss gives
    an observed negative.

    Reductions: ``"mean"`` is the formula above (data term divided by ``batch * n_labels``); ``"none"``
    returns the data terms with ``λ R_k`` added to every entry, so that its mean is ``"mean"``; ``"sum"`` is
    ``batch * n_labels`` times ``"mean"``.
    """
    k = expected_positives
    terms = targets * F.softplus(-logits)
    certain = certain_zeros(targets, suspect)
    if certain is not None:
        terms = terms + certain * F.softplus(logits)
    terms = _weighted(terms, targets, weights)
    penalty = lam * expected_positive_penalty(torch.sigmoid(logits), k)
    return _spread(terms, penalty, reduction)


@checks_params({**REDUCTION, "expected_positives": [NON_NEGATIVE], "lam": [NON_NEGATIVE]})
def role(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    label_logits: Tensor,
    expected_positives: float,
    lam: float = 1.0,
    suspect: Tensor | None = None,
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
    if label_logits.shape != logits.shape:
        raise MLMLError(
            f"role: label_logits has shape {tuple(label_logits.shape)}; expected {tuple(logits.shape)}."
        )
    k = expected_positives
    f = torch.sigmoid(logits)
    estimates = torch.sigmoid(label_logits)
    positive = targets * (F.softplus(-logits) + F.softplus(-label_logits))
    certain = certain_zeros(targets, suspect)
    if certain is not None:
        positive = positive + certain * (F.softplus(logits) + F.softplus(label_logits))
    agree = F.binary_cross_entropy_with_logits(logits, estimates.detach(), reduction="none")
    agree = agree + F.binary_cross_entropy_with_logits(label_logits, f.detach(), reduction="none")
    terms = _weighted(0.5 * (positive + agree), targets, weights)
    penalty = 0.5 * lam * (expected_positive_penalty(f, k) + expected_positive_penalty(estimates, k))
    return _spread(terms, penalty, reduction)
