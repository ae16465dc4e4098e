"""Durand et al., CVPR 2019, "Learning a Deep ConvNet for Multi-label Classification with Partial Labels":
partial BCE."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from mlml._params import POSITIVE_REAL, REAL, checks_params
from mlml._validation import check_real as _check_real
from mlml.exceptions import MLMLError
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    _reduce,
    _weighted,
)


def partial_bce_coefficients(gamma: float = 1.0) -> tuple[float, float]:
    """α, β of ``g(p) = α p^γ + β`` fixed, as in Durand et al., by ``g(1) = 1`` and ``g(0.1) = 5``."""
    gamma = _check_real(gamma, "gamma", "partial_bce_coefficients", low=0.0, low_open=True)
    alpha = -4.0 / (1.0 - 0.1**gamma)
    return alpha, 1.0 - alpha


@checks_params({**REDUCTION, "gamma": [POSITIVE_REAL], "alpha": [None, REAL], "beta": [None, REAL]})
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
    if (alpha is None) != (beta is None):
        raise MLMLError("partial_bce takes both 'alpha' and 'beta' or neither (then g(1) = 1, g(0.1) = 5).")
    if alpha is None:
        alpha, beta = partial_bce_coefficients(gamma)
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
