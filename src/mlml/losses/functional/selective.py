"""Ben-Baruch et al., CVPR 2022, "Multi-label Classification with Partial Annotations using Class-aware Selective
Loss": the class-aware selective loss (CSL; Alibaba-MIIL/PartialLabelingCSL, ``partial_asymmetric_loss.py``).

Three kinds of entries, with ``p = σ(z)`` and the shifted probability ``p_m = max(p − m, 0)`` (``m = clip``):

* annotated positives (``y = 1``): ``ℓ = −α+ (1 − p)^γ+ log p``;
* annotated negatives (zeros outside ``unannotated``: our verified negatives): ``ℓ = −α− p_m^γ− log(1 − p_m)``;
* un-annotated entries (``unannotated``: our unknown ``-1`` entries and suspect zeros), treated *selectively*:
  ``ℓ = −α_u p_m^γu log(1 − p_m)`` (a negative with its own focusing) unless the entry is ignored (``ℓ = 0``),
  which happens when

  - its class is likely present in the data set: the class prior ``P̂(c)`` exceeds ``prior_threshold``
    (the "class-aware" part), or
  - it is among the ``likelihood_topk × batch`` un-annotated entries of the batch with the highest ``p``
    (the label likelihood: a likely positive is not trained as a negative).

The focusing factors are constants (computed without gradient, as the authors'); every term is multiplied by the
entry weight. Selection rule (authors' ``edit_targets_parital_labels``, mode ``selective``, and
``negative_backprop_fun_jit``): the class-prior rule is applied first, then the top-k likelihood rule ranks ALL
un-annotated entries of the batch (those already ignored by their class included) by ``1 − p_m`` ascending and
ignores the first ``k``. Ours ranks by the logit (the same order wherever ``p > m``; exact ties are broken by the
entry's position, a stable sort, where the authors' ``argsort`` leaves them unspecified). Differences on purpose:
their logs clamp the probability at ``1e-8`` (ours are exact ``logsigmoid`` terms, equal to theirs to 1e-12 for
``|z| < 18``); they return ``−loss.sum()`` (our ``"sum"``; ``"mean"`` divides by ``batch × n_labels``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mlml._params import FRACTION, NON_NEGATIVE, checks_params
from mlml._validation import check_positive_int
from mlml.exceptions import MLMLError
from mlml.losses.functional._base import REDUCTION, Reduction, Weights, _reduce, _weighted
from mlml.losses.functional.focal import asymmetric


def csl_ignored(
    logits: Tensor,
    unannotated: Tensor,
    *,
    prior: Tensor | None = None,
    prior_threshold: float | None = 0.5,
    likelihood_topk: int = 5,
) -> Tensor:
    """Boolean ``(batch, n_labels)`` mask of the un-annotated entries CSL ignores (see the module docstring).

    Args:
        logits: ``(batch, n_labels)``; not differentiated.
        unannotated: bool ``(batch, n_labels)``, the un-annotated entries.
        prior: ``(n_labels,)`` the class prior ``P̂(c)``; None: no class-aware rule.
        prior_threshold: classes with ``P̂(c) > prior_threshold`` have every un-annotated entry ignored; None (or
            0, as the authors' ``if args.prior_threshold``) turns the rule off.
        likelihood_topk: ``K``: the ``K × batch`` un-annotated entries with the highest logits are ignored.
    """
    topk = check_positive_int(likelihood_topk, "likelihood_topk", "csl", minimum=0)
    ignored = torch.zeros_like(unannotated, dtype=torch.bool)
    if prior is not None and prior_threshold:
        if prior.shape != (logits.shape[-1],):
            raise MLMLError(f"csl: the class prior has shape {tuple(prior.shape)}; expected ({logits.shape[-1]},).")
        ignored = unannotated & (prior.to(logits.device) > prior_threshold)
    k = topk * logits.shape[0]
    if k == 0:
        return ignored
    flat = unannotated.reshape(-1)
    candidates = torch.nonzero(flat).reshape(-1)
    if candidates.numel() == 0:
        return ignored
    scores = logits.detach().reshape(-1)[candidates]
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    likely = torch.zeros_like(flat)
    likely[candidates[order]] = True
    return ignored | likely.reshape(unannotated.shape)


@checks_params({
    **REDUCTION, "gamma_pos": [NON_NEGATIVE], "gamma_neg": [NON_NEGATIVE], "gamma_unann": [NON_NEGATIVE],
    "clip": [FRACTION], "alpha_pos": [NON_NEGATIVE], "alpha_neg": [NON_NEGATIVE], "alpha_unann": [NON_NEGATIVE],
})
def csl(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    unannotated: Tensor | None = None,
    prior: Tensor | None = None,
    prior_threshold: float | None = 0.5,
    likelihood_topk: int = 5,
    gamma_pos: float = 0.0,
    gamma_neg: float = 1.0,
    gamma_unann: float = 4.0,
    clip: float = 0.0,
    alpha_pos: float = 1.0,
    alpha_neg: float = 1.0,
    alpha_unann: float = 1.0,
) -> Tensor:
    """The class-aware selective loss (see the module docstring for the formula and the selection rule).

    Defaults: the authors' README recipe for random-per-sample partial labels (the protocol of
    :func:`mlml.simulate.keep_known_labels`): γ+ = 0, γ− = 1, γu = 4, ``likelihood_topk = 5``,
    ``prior_threshold = 0.5``, no clip (``train.py``'s own defaults differ: γu = 2, ``prior_threshold = 0.05``).

    Args:
        logits: ``(batch, n_labels)``.
        targets: ``(batch, n_labels)`` in {0, 1}; 0 on every un-annotated entry.
        weights: the entry weights (``(ω, ω̄)``, combined, or None); they multiply every term, the un-annotated
            entries' included (the module gives unknown entries weight 1: CSL decides their fate itself).
        reduction: ``"mean"`` divides by ``batch * n_labels``; ``"sum"`` is the authors' ``-loss.sum()``.
        unannotated: bool ``(batch, n_labels)``, the un-annotated entries (zero targets); None: every zero target
            (the positive-unlabelled regime, where no negative is annotated).
        prior, prior_threshold, likelihood_topk: the selection rule (:func:`csl_ignored`).
        gamma_pos, gamma_neg, gamma_unann: focusing of the positive, annotated-negative and un-annotated terms.
        clip: the probability shift ``m`` of the negative terms (ASL's clip).
        alpha_pos, alpha_neg, alpha_unann: the weights of the three terms.
    """
    targets = targets.to(logits.dtype)
    positive = targets == 1
    if unannotated is None:
        unannotated = ~positive
    elif unannotated.shape != logits.shape:
        raise MLMLError(f"csl: 'unannotated' has shape {tuple(unannotated.shape)}; expected {tuple(logits.shape)}.")
    else:
        unannotated = unannotated.to(torch.bool)
        if torch.any(unannotated & positive):
            raise MLMLError("csl: an entry is both an annotated positive (target 1) and un-annotated.")
    ignored = csl_ignored(logits, unannotated, prior=prior, prior_threshold=prior_threshold,
                          likelihood_topk=likelihood_topk)
    ones, zeros = torch.ones_like(logits), torch.zeros_like(logits)
    pos_term = asymmetric(logits, ones, reduction="none", gamma_pos=gamma_pos, margin=clip)
    neg_term = asymmetric(logits, zeros, reduction="none", gamma_neg=gamma_neg, margin=clip)
    unann_term = asymmetric(logits, zeros, reduction="none", gamma_neg=gamma_unann, margin=clip)
    terms = torch.where(
        positive,
        alpha_pos * pos_term,
        torch.where(unannotated, torch.where(ignored, zeros, alpha_unann * unann_term), alpha_neg * neg_term),
    )
    return _reduce(_weighted(terms, targets, weights), reduction)
