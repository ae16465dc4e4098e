"""Ours: soft pseudo-labels on observed zeros (the M-step of the knn-pu-em methods)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import checks_params
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    _reduce,
    suspect_zeros,
)
from mlml.losses.functional.focal import asymmetric


def pair_weights(targets: Tensor, weights: Weights, suspect: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(ω, ω̄)`` for the soft losses: as given; ``(y w, w)`` for a combined weight ``w`` (no pseudo-positive
    term: the plain loss, weighted); ``(y, 1)`` for None. Given ``suspect``, ω is kept on the positives and the
    suspect zeros only: a verified negative never gets a pseudo-positive term."""
    if weights is None:
        return targets, torch.ones_like(targets)
    if isinstance(weights, Tensor):
        w = weights.to(targets.dtype)
        return targets * w, w
    pos, neg = weights
    pos, neg = pos.to(targets.dtype), neg.to(targets.dtype)
    if suspect is not None:
        pos = torch.where((targets == 1) | suspect_zeros(targets, suspect), pos, torch.zeros_like(pos))
    return pos, neg


@checks_params(REDUCTION)
def soft_bce(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    suspect: Tensor | None = None,
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
        suspect: bool ``(batch, n_labels)``, the suspect zeros (the only zeros with a pseudo-positive term); None:
            every zero.
    """
    targets = targets.to(logits.dtype)
    pos, neg = pair_weights(targets, weights, suspect)
    # ω softplus(−z) + ω̄ (1 − y) softplus(z) with softplus(−z) = softplus(z) − z: one softplus, not two
    terms = (pos + neg * (1.0 - targets)) * F.softplus(logits) - pos * logits
    return _reduce(terms, reduction)


@checks_params(REDUCTION)
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
    suspect: Tensor | None = None,
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
        suspect: the suspect zeros, as in :func:`soft_bce`.
    """
    targets = targets.to(logits.dtype)
    pos, neg = pair_weights(targets, weights, suspect)
    options = dict(reduction="none", gamma_pos=gamma_pos, gamma_neg=gamma_neg, margin=margin,
                   detach_focusing=detach_focusing)
    positive = asymmetric(logits, torch.ones_like(logits), **options)  # −(1 − p)^γ+ log p
    negative = asymmetric(logits, torch.zeros_like(logits), **options)  # −p_m^γ− log(1 − p_m)
    terms = pos * positive + neg * (1.0 - targets) * negative
    return _reduce(terms, reduction)
