"""The generalized robust loss (GR loss; Chen et al., IJCAI 2024, "Boosting Single Positive Multi-label
Classification with Generalized Robust Loss", yan4xi1/GRLoss ``losses.py`` ``GR_loss``, ``models.py``
``KFunction``/``VFunction``, ``train.py`` (schedule)) and the GPR loss of AEVLP (Tran et al., ICCV 2025,
Fsoft-AIC/AEVLP ``losses.py`` ``GPR_loss``), GR loss plus pseudo-positive terms and EPR's regulariser.

With ``p = σ(z)`` and ``p̂`` the same probability *detached* (the authors' ``preds.detach()``):

* ``K(p̂) = σ(w p̂ + b)``, the estimated chance that an unannotated label is really positive;
* ``V(p̂) = exp(−½ ((p̂ − μ) / σ_V)²)``, a Gaussian weight that discounts the zeros the model is sure about either
  way;
* ``L₁(p) = (1 − p^{q₂}) / q₂`` (a robust positive loss; → −log p as q₂ → 0) and
  ``L₂(p) = (1 − (1 − p)^{q₃}) / q₃`` (a robust negative loss; q₃ = 1 is the mean absolute error p).

GR loss: ``−log p`` on an observed positive and ``V [K L₁(p) + (1 − K) L₂(p)]`` on an unannotated label (a suspect
zero). ``(w, b)`` and ``(μ, σ_V)`` follow linear schedules over the epochs (:class:`mlml.losses.modules.GRLoss`).
Powers are computed as ``exp(q log σ(±z))``, exact at any logit (the authors' ``torch.pow`` of a probability and
``−log(p + 1e-7)``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import FRACTION, NON_NEGATIVE, POSITIVE_REAL, REAL, checks_params
from mlml._validation import check_real as _check_real
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    _reduce,
    _spread,
    _weighted,
    suspect_zeros,
)
from mlml.losses.functional.cole import expected_positive_penalty
from mlml.losses.functional.soft import pair_weights

#: GR loss's parameters (the schedule's current values), shared with GPR.
GR_PARAMS: dict[str, list[Any]] = {
    "k_weight": [REAL], "k_bias": [REAL], "v_mean": [REAL], "v_std": [POSITIVE_REAL], "q2": [POSITIVE_REAL],
    "q3": [POSITIVE_REAL],
}

def gr_negative(logits: Tensor, *, k_weight: float, k_bias: float, v_mean: float, v_std: float, q2: float,
                q3: float) -> tuple[Tensor, Tensor]:
    """``(V [K L₁(p) + (1 − K) L₂(p)], V)``: GR loss's term of an unannotated label, and its weight V (both
    ``(batch, n_labels)``; K and V read the detached probability)."""
    p_hat = torch.sigmoid(logits.detach())
    k = torch.sigmoid(k_weight * p_hat + k_bias)
    v = torch.exp(-0.5 * ((p_hat - v_mean) / v_std).square())
    robust_pos = -torch.expm1(q2 * F.logsigmoid(logits)) / q2  # (1 − p^q₂) / q₂
    robust_neg = -torch.expm1(q3 * F.logsigmoid(-logits)) / q3  # (1 − (1 − p)^q₃) / q₃
    return v * (k * robust_pos + (1.0 - k) * robust_neg), v


@checks_params({**REDUCTION, **GR_PARAMS})
def gr_loss(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    k_weight: float = 0.0,
    k_bias: float = -2.0,
    v_mean: float = 0.5,
    v_std: float = 2.0,
    q2: float = 0.01,
    q3: float = 1.0,
    suspect: Tensor | None = None,
) -> Tensor:
    """GR loss (Chen et al. 2024) at one point of its schedule (module docstring).

    ``ℓ_ic = w_ic · { −log p (y = 1); V [K L₁(p) + (1 − K) L₂(p)] (suspect zero); −log(1 − p) (verified
    negative, which the authors' single-positive data never has) }``, ``w`` the entry weight; ``"mean"`` divides
    by ``batch * n_labels`` (their ``loss_mtx.mean()``). Authors' code: yan4xi1/GRLoss, ``losses.py`` ``GR_loss``,
    ``loss1``, ``loss2``; ``models.py`` ``KFunction``, ``VFunction``. The defaults are their schedule's values in
    the first epoch (``config.py``: β = [0, 2, −2, −2], α = [0.5, 2, 0.8, 0.5], q₂q₃ = [0.01, 1]).

    Args:
        k_weight, k_bias: ``w`` and ``b`` of ``K(p̂) = σ(w p̂ + b)``.
        v_mean, v_std: ``μ`` and ``σ_V > 0`` of ``V``.
        q2, q3: the exponents ``q₂, q₃ > 0`` of ``L₁`` and ``L₂``.
        suspect: the suspect zeros; None: every zero.
    """
    y = targets.to(logits.dtype)
    unknown = suspect_zeros(y, suspect)
    negative, _ = gr_negative(logits, k_weight=k_weight, k_bias=k_bias, v_mean=v_mean, v_std=v_std, q2=q2, q3=q3)
    terms = y * F.softplus(-logits) + torch.where(unknown, negative, (1.0 - y) * F.softplus(logits))
    return _reduce(_weighted(terms, y, weights), reduction)


@checks_params({
    **REDUCTION, **GR_PARAMS, "lam1": [FRACTION], "lam2": [FRACTION], "rho": [FRACTION], "reg": [NON_NEGATIVE],
    "expected_positives": [NON_NEGATIVE],
})
def gpr_loss(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    k_weight: float = 0.0,
    k_bias: float = -2.0,
    v_mean: float = 0.5,
    v_std: float = 2.0,
    q2: float = 0.01,
    q3: float = 1.0,
    lam1: float = 0.7,
    lam2: float = 0.5,
    rho: float = 0.9,
    reg: float = 0.001,
    expected_positives: float,
    suspect: Tensor | None = None,
) -> Tensor:
    """The GPR loss of AEVLP (Tran et al. 2025): GR loss with (soft) pseudo-positives and EPR's regulariser.

    With the pair ``(ω, ω̄)`` (see :func:`~mlml.losses.functional.soft.pair_weights`), ``q = ω`` on a suspect zero
    is the weight of its pseudo-positive term and ``ω̄`` the weight of its GR term:

    ``ℓ_ic = ω (−log p)`` on an observed positive;
    ``ℓ_ic = ω̄ V [K L₁ + (1 − K) L₂] + ω (1 − Ṽ) [−ρ log p − (1 − ρ) log(1 − p)]`` on a suspect zero, with
    ``Ṽ = clamp(V, 1 − λ₁, 1 − λ₂)``; ``ℓ_ic = ω̄ (−log(1 − p))`` on a verified negative; plus
    ``reg · R_k``, ``R_k = ((1/B) Σ_n Σ_c p_nc − k)² / C²`` (EPR's, :func:`expected_positive_penalty`).

    With hard pseudo-labels -- ``(ω, ω̄) = (1, 0)`` on a pseudo-positive, ``(0, 1)`` elsewhere -- this is the
    authors' loss (Fsoft-AIC/AEVLP, ``losses.py`` ``GPR_loss`` with ``use_pl``: their ``final_labels == 0`` term,
    then the ``mask_pos`` term with ``V`` clamped to ``[1 − λ₁, 1 − λ₂]``); their pseudo-labels come from CLIP
    (``utils.py`` ``get_pseudo_labels``), ours are any soft posterior ``q`` (``(ω, ω̄) = (q, 1 − q)``, what the
    ``pu-adaptive`` estimators return with ``pseudo_positive = 1``), so each zero's term is the mixture of the two
    by ``q``. Their negative-pseudo-label branch (``final_labels == -1``) is never reached in their code
    (``get_pseudo_labels`` writes 0, not −1, at the negatives it picks) and is not here. A combined weight ``w``
    (no pair) means no pseudo-positive: GR loss weighted, plus the regulariser. ``"mean"`` divides the terms by
    ``batch * n_labels`` and adds ``reg · R_k`` once (their ``loss_mtx.mean() + P['reg'] * ...``); ``"none"``
    adds it to every entry. Defaults: their COCO configuration's first epoch (``configs/coco.json``: λ = [0.7,
    0.5], ρ = 0.9, reg = 0.001; the schedule is :class:`mlml.losses.modules.GPRLoss`'s).

    Args:
        k_weight, k_bias, v_mean, v_std, q2, q3: as :func:`gr_loss`.
        lam1, lam2: ``1 ≥ λ₁ ≥ λ₂ ≥ 0``; a pseudo-positive's V is clamped to ``[1 − λ₁, 1 − λ₂]``.
        rho: ρ in [0, 1], the pseudo-positive's share of ``−log p`` (the rest ``−log(1 − p)``).
        reg: the weight of ``R_k`` (≥ 0).
        expected_positives: ``k``, the expected number of positives per sample.
        suspect: the suspect zeros; None: every zero.
    """
    lam2 = _check_real(lam2, "lam2", "gpr_loss", low=0.0, high=lam1)  # λ2 <= λ1
    k = expected_positives
    y = targets.to(logits.dtype)
    pos, neg = pair_weights(y, weights, suspect)
    unknown = suspect_zeros(y, suspect)
    negative, v = gr_negative(logits, k_weight=k_weight, k_bias=k_bias, v_mean=v_mean, v_std=v_std, q2=q2, q3=q3)
    neg_log_p, neg_log_q = F.softplus(-logits), F.softplus(logits)
    pseudo = (1.0 - v.clamp(1.0 - lam1, 1.0 - lam2)) * (rho * neg_log_p + (1.0 - rho) * neg_log_q)
    zero_terms = torch.where(unknown, neg * negative + pos * pseudo, neg * neg_log_q)
    terms = torch.where(y == 1, pos * neg_log_p, zero_terms)
    penalty = reg * expected_positive_penalty(torch.sigmoid(logits), k)
    return _spread(terms, penalty, reduction)
