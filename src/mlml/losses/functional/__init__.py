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
* Suspect zeros: losses that reject, correct, down-weight or pseudo-label assumed negatives (LL-R/LL-Ct, SPLC,
  Hill's hill, WAN, the soft losses) take ``suspect=``, the mask of the zeros that may hide a missing positive
  (observed ``0``); the other zeros are verified negatives (observed ``2``) and keep a full, certain negative
  term. None: every zero is suspect (the positive-unlabelled regime). See :mod:`mlml.losses.functional._base`.
* ``reduction``: ``"none"`` returns the ``(batch, n_labels)`` matrix of terms, ``"sum"`` its sum and
  ``"mean"`` its sum divided by ``batch * n_labels`` (the number of entries, whatever the weights) unless
  the docstring says otherwise; so ``mean * batch * n_labels == sum`` for every loss here.

Numerical stability: every term is written with ``logsigmoid``/``softplus`` of the logits, and every
focusing factor ``p^γ`` as ``exp(γ log p)``, so the values and gradients stay finite at logits of ±100.
"""

from mlml.losses.functional._base import Reduction, Weights, certain_zeros, entry_weight, suspect_zeros
from mlml.losses.functional.bce import FUSED_MIN_NUMEL, weighted_bce
from mlml.losses.functional.cole import an_ls, epr, expected_positive_penalty, role, wan
from mlml.losses.functional.enhanced import enhanced_bce
from mlml.losses.functional.entropy import entropy_maximization
from mlml.losses.functional.focal import asymmetric, focal, hill, splc
from mlml.losses.functional.large_loss import large_loss, large_loss_mask, large_loss_selection
from mlml.losses.functional.partial import partial_bce, partial_bce_coefficients
from mlml.losses.functional.propensity import propensity_weighted_bce, unbiased_bce
from mlml.losses.functional.robust import gpr_loss, gr_loss, gr_negative
from mlml.losses.functional.selective import csl, csl_ignored
from mlml.losses.functional.soft import pair_weights, soft_asl, soft_bce

__all__ = [
    "FUSED_MIN_NUMEL",
    "Reduction",
    "Weights",
    "an_ls",
    "asymmetric",
    "certain_zeros",
    "csl",
    "csl_ignored",
    "enhanced_bce",
    "entropy_maximization",
    "entry_weight",
    "epr",
    "expected_positive_penalty",
    "focal",
    "gpr_loss",
    "gr_loss",
    "gr_negative",
    "hill",
    "large_loss",
    "large_loss_mask",
    "large_loss_selection",
    "pair_weights",
    "partial_bce",
    "partial_bce_coefficients",
    "propensity_weighted_bce",
    "role",
    "soft_asl",
    "soft_bce",
    "splc",
    "unbiased_bce",
    "suspect_zeros",
    "wan",
    "weighted_bce",
]
