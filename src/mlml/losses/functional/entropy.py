"""Zhou et al., ECCV 2022, "Acknowledging the Unknown for Multi-label Learning with Single Positive Labels": the
entropy-maximisation (EM) loss and the loss of its asymmetric pseudo-labels (APL)
(Correr-Zhou/SPML-AckTheUnknown, ``losses.py`` ``loss_EM`` and ``loss_EM_APL``; the pseudo-labelling is
``main.py`` ``aysmmetric_pseudo_labeling``, in :class:`mlml.losses.modules.EMAPL`).

With ``p = σ(z)`` and the binary entropy ``H(p) = −p log p − (1 − p) log(1 − p)``:

* observed positive: ``−log p``;
* suspect zero (an unannotated label, "unknown" to the authors): ``−α H(p)``, whose minimisation *maximises* the
  entropy of the prediction (it pushes p towards ½ with a gradient that vanishes there and at 0 and 1);
* suspect zero that APL has pseudo-labelled with the soft label ``s`` (the model's probability when it was
  picked): ``β [−s log p − (1 − s) log(1 − p)]``, the cross-entropy against ``s``;
* verified negative (observed ``2``, which the authors' single-positive data never has): ``−log(1 − p)``.

Every term is written with ``softplus``: ``−log p = softplus(−z)``, ``−log(1 − p) = softplus(z)`` and
``H(p) = p softplus(−z) + (1 − p) softplus(z)``, exact at any logit (the authors add ``1e-5`` inside every log).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import NON_NEGATIVE, checks_params
from mlml.exceptions import MLMLError
from mlml.losses.functional._base import REDUCTION, Reduction, Weights, _reduce, _weighted, suspect_zeros


@checks_params({**REDUCTION, "alpha": [NON_NEGATIVE], "beta": [NON_NEGATIVE]})
def entropy_maximization(
    logits: Tensor,
    targets: Tensor,
    weights: Weights = None,
    *,
    reduction: Reduction = "mean",
    alpha: float = 0.1,
    beta: float = 0.9,
    pseudo_mask: Tensor | None = None,
    pseudo_targets: Tensor | None = None,
    suspect: Tensor | None = None,
) -> Tensor:
    """The EM loss (Zhou et al. 2022), and with ``pseudo_mask`` the EM + APL loss.

    ``ℓ_ic = w_ic · { −log p (y = 1); −α H(p) (suspect zero); β BCE(z, s) (pseudo-labelled suspect zero);
    −log(1 − p) (verified negative) }`` (module docstring), ``w = y ω + (1 − y) ω̄`` the entry weight.
    ``"mean"`` divides by ``batch * n_labels`` (the authors' ``compute_batch_loss``). Authors' code:
    Correr-Zhou/SPML-AckTheUnknown, ``losses.py`` ``loss_EM`` (``P['alpha']``), ``loss_EM_APL`` (``P['beta']``;
    their pseudo-labels are stored as ``−s`` in the observed label matrix). Defaults: their COCO setting
    (``main.py``: α = 0.1, β = 0.9).

    Args:
        alpha: α ≥ 0, the weight of the entropy term.
        beta: β ≥ 0, the weight of the pseudo-labels' cross-entropy.
        pseudo_mask: bool ``(batch, n_labels)``, the suspect zeros APL has pseudo-labelled (None: none).
        pseudo_targets: float ``(batch, n_labels)`` in [0, 1], their soft labels ``s`` (read where
            ``pseudo_mask``).
        suspect: the suspect zeros (:mod:`mlml.losses.functional._base`); None: every zero.
    """
    y = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    neg_log_p, neg_log_q = F.softplus(-logits), F.softplus(logits)
    unknown = suspect_zeros(y, suspect)
    entropy = p * neg_log_p + (1.0 - p) * neg_log_q
    terms = y * neg_log_p + ((1.0 - y) * neg_log_q).masked_fill(unknown, 0.0) - alpha * entropy * unknown
    if pseudo_mask is not None:
        if pseudo_targets is None or pseudo_mask.shape != logits.shape or pseudo_targets.shape != logits.shape:
            raise MLMLError("entropy_maximization: pseudo_mask and pseudo_targets must both be given, shaped like "
                            f"the logits {tuple(logits.shape)}.")
        picked = pseudo_mask.to(torch.bool) & unknown
        s = torch.where(picked, pseudo_targets.to(logits.dtype), torch.zeros_like(p))
        pseudo = beta * (s * neg_log_p + (1.0 - s) * neg_log_q)
        terms = torch.where(picked, pseudo, terms)
    return _reduce(_weighted(terms, y, weights), reduction)
