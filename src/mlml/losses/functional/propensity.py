"""Propensity-scored binary cross-entropy for labels missing with known propensities (extreme classification).

A relevant label ``l`` is observed with propensity ``p_l`` (Jain et al. 2016; :mod:`mlml.propensity`) and never
the other way round: an observed positive is a true positive, an observed zero is a negative or a missing
positive. With ``L⁺(z) = −log σ(z) = softplus(−z)`` and ``L⁻(z) = −log(1 − σ(z)) = softplus(z)``:

* **unbiased BCE** (Natarajan et al.'s correction as derived for extreme classification by Schultheis, Qaraei,
  Gupta and Babbar, "Unbiased Loss Functions for Extreme Classification With Missing Labels", 2020): an observed
  positive contributes ``(1/p_l) L⁺ + (1 − 1/p_l) L⁻``, an observed zero ``L⁻``. Its expectation over the
  missing-label process equals the BCE of the complete labels, but the term ``(1 − 1/p_l) L⁻`` is negative and
  unbounded below: the loss is neither convex nor bounded below in ``z``;
* **its convex surrogate** (Qaraei, Schultheis, Gupta and Babbar, "Convex Surrogates for Unbiased Loss Functions
  in Extreme Classification With Missing Labels", WWW 2021): from the unbiased 0-1 loss of an observed positive,
  ``(2/p_l − 1) ℓ01(+1) + const``, with ``ℓ01`` replaced by the convex ``L⁺``: an observed positive contributes
  ``(2/p_l − 1) L⁺``, an observed zero ``L⁻`` -- BCE with per-label positive weights ``2/p_l − 1``, the
  ``(2.0*inv_prop)-1.0`` of the authors' code (xmc-aalto/PWXMC, ``get_weights(reweighting='PW')``; the code then
  rescales the positive weights to mean 1 over labels, which is left out here: it is NOT a learning-rate scale,
  since the negative terms keep weight 1 -- it changes the balance of positives and negatives, i.e. the loss's
  shape: ``pos_weight = [7, 1]`` against ``[1.75, 0.25]`` on ``z = [[0, 0]]``, ``y = [[1, 0]]`` gives 2.7726
  against 0.9531, a ratio of 2.909, not 4).

The unbiased BCE is also published as code: xmc-aalto/missing-labels-tmlr, ``train/losses.py``
``make_unbiased_ova`` (``ova_base_loss`` with the target ``y / p``), which ours equals
(tests/losses/test_losses_propensity.py).

Both follow the losses' contract (:mod:`mlml.losses.functional`): every per-entry term is multiplied by the entry
weight ``w``; ``"mean"`` divides by ``batch * n_labels``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import checks_params
from mlml.exceptions import MLMLError
from mlml.losses.functional._base import REDUCTION, Reduction, Weights, _reduce, _weighted


def _inverse(propensity: Tensor, logits: Tensor) -> Tensor:
    if propensity.dim() != 1 or propensity.shape[0] != logits.shape[-1]:
        raise MLMLError(f"'propensity' must hold one value per label ({logits.shape[-1]}). Got shape "
                        f"{tuple(propensity.shape)}.")
    return 1.0 / propensity.to(device=logits.device, dtype=logits.dtype)


@checks_params({**REDUCTION})
def unbiased_bce(
    logits: Tensor, targets: Tensor, weights: Weights = None, *, propensity: Tensor, reduction: Reduction = "mean"
) -> Tensor:
    """Unbiased BCE (Schultheis et al. 2020): ``y [(1/p) L⁺ + (1 − 1/p) L⁻] + (1 − y) L⁻`` per entry, times the
    entry weight (see the module docstring).

    Args:
        logits, targets: ``(batch, n_labels)``; targets 1 for an observed positive, 0 otherwise.
        weights: ``(ω, ω̄)``, the combined entry weight, or None.
        propensity: ``(n_labels,)`` label propensities ``p_l`` in (0, 1].
        reduction: ``"mean"`` (over ``batch * n_labels`` entries), ``"sum"`` or ``"none"``.
    """
    targets = targets.to(logits.dtype)
    inverse = _inverse(propensity, logits)
    positive, negative = F.softplus(-logits), F.softplus(logits)
    terms = negative + targets * inverse * (positive - negative)
    return _reduce(_weighted(terms, targets, weights), reduction)


@checks_params({**REDUCTION})
def propensity_weighted_bce(
    logits: Tensor, targets: Tensor, weights: Weights = None, *, propensity: Tensor, reduction: Reduction = "mean"
) -> Tensor:
    """The convex surrogate of Qaraei et al. (2021): ``y (2/p − 1) L⁺ + (1 − y) L⁻`` per entry, times the entry
    weight (see the module docstring; arguments as :func:`unbiased_bce`)."""
    targets = targets.to(logits.dtype)
    inverse = _inverse(propensity, logits)
    terms = torch.where(targets > 0, (2.0 * inverse - 1.0) * F.softplus(-logits), F.softplus(logits))
    return _reduce(_weighted(terms, targets, weights), reduction)
