"""Eq. 2 of Ibrahim et al. (ICMR 2020): confidence-weighted binary cross-entropy (plain BCE, i.e. AN, with unit
weights)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mlml._params import checks_params
from mlml.losses.functional._base import (
    REDUCTION,
    Reduction,
    Weights,
    entry_weight,
)

# Below this many entries the custom autograd.Function of ``weighted_bce`` costs more in Python overhead
# than the memory passes it saves, so the composite path is used (benchmarks/bench_loss.py measures both).
FUSED_MIN_NUMEL = 1 << 16


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


@checks_params({**REDUCTION})
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
