"""Thin ``nn.Module`` wrappers: they hold hyperparameters and state and call the pure functions.

Which losses compose with confidence weights (ω, ω̄ from a weight estimator)? Every loss multiplies each
per-entry term by the weight of the entry's observed label (see :mod:`mlml.losses.functional`), so a zero
weight always drops an unknown entry. Beyond that:

* compose naturally -- the loss is a sum of a positive branch and a negative branch per entry and ω̄ says how
  far to trust the negative one: ``weighted-bce`` (Eq. 2), ``focal``, ``asl``, ``wan`` (its 1/(C-1) is a
  constant ω̄; a weight multiplies it), ``an-ls``, ``partial-bce``. Registered recipes: ``cb-wce``,
  ``focal-cb``, ``asl-cb``, ``asl-backoff``.
* accepted but not recommended -- the loss already decides which assumed negatives are missing positives, so
  confidence weights would discount the same entries twice: ``hill`` (its negative branch is small near
  p = 1), ``splc`` and ``ll-r``/``ll-ct`` (they correct or reject those entries).
* do not compose -- ``epr`` and ``role`` have no assumed-negative term for ω̄ to act on (EPR drops negatives,
  ROLE replaces them by learned label estimates); only ω on the observed positives has an effect and the
  batch-level penalties are not weighted.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from mlml._validation import RandomState, check_option, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, check_labels, positives_per_sample, to_dense
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction, Weights, _check_real, weighted_bce
from mlml.losses.registry import LOSSES


class Criterion(nn.Module):
    """Base class of every registered loss; the trainer talks to this interface only.

    ``forward(logits, targets, weights=None, *, index=None, known=None)``:

    * ``logits``  -- float ``(batch, n_labels)``;
    * ``targets`` -- float ``(batch, n_labels)`` in {0, 1}: observed positives are 1, everything else 0
      (losses never see -1; unknown entries arrive with zero weight and ``known`` False);
    * ``weights`` -- the entry weight ``w = y ω + (1 − y) ω̄``, float ``(batch, n_labels)``, or the pair ``(ω, ω̄)``
      (what the trainer passes where ``needs_pair``), from a weight estimator; or None for unit weights;
    * ``index``   -- long ``(batch,)``: the rows of the training set in this batch (stateful losses such as
      ROLE keep per-sample state);
    * ``known``   -- bool ``(batch, n_labels)``: False where the label is unknown (-1). Where ``weights`` is
      None it becomes the weights (unknown entries get weight 0); where weights are given they already hold
      0 at unknown entries (the estimator contract) and ``known`` is not applied again.

    Hooks the trainer calls: ``setup(observed)`` once before training, with the training rows' observed labels
    (int8 ``(n_samples, n_labels)``, -1 allowed; for per-sample state and label statistics), and
    ``start_epoch(epoch)`` at the start of every epoch (0-based). Both default to no-ops.

    Class attributes the trainer and the common tests read: ``needs_pair`` (the loss reads ω on observed zeros,
    so the trainer passes ``(ω, ω̄)``; every other loss gets the combined entry weight, computed once),
    ``per_entry`` (the loss is a sum of weighted per-entry terms with no batch-level penalty: zero weight gives
    exactly zero gradient for the entry).
    """

    needs_pair: ClassVar[bool] = False
    per_entry: ClassVar[bool] = True

    def setup(self, observed: np.ndarray) -> None:
        """Allocate per-sample state or read label statistics (stateful losses only)."""

    def start_epoch(self, epoch: int) -> None:
        """Advance epoch-wise schedules (stateful losses only)."""

    def forward(
        self,
        logits: Tensor,
        targets: Tensor,
        weights: tuple[Tensor, Tensor] | None = None,
        *,
        index: Tensor | None = None,
        known: Tensor | None = None,
    ) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def _weights(logits: Tensor, weights: Weights, known: Tensor | None) -> Weights:
        """``weights``, or -- the one default where none were given -- ``known`` as the entry weight (1 on known
        entries, 0 on unknown ones)."""
        if weights is None and known is not None:
            return known.to(logits.dtype)
        return weights

    def extra_repr(self) -> str:
        public = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "training"}
        return ", ".join(f"{k}={v!r}" for k, v in public.items())


def _check_epoch(epoch: object, owner: str) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise MLMLError(
            f"The 'epoch' argument of {owner}.start_epoch must be an int >= 0. Got {epoch!r} instead."
        )
    return int(epoch)


def mean_positives(observed: np.ndarray) -> float:
    """Mean number of observed positives per sample of a label matrix (-1 allowed)."""
    observed = check_labels(observed, name="observed")
    return float(np.mean(positives_per_sample(observed)))


@LOSSES.register("weighted-bce")
class WeightedBCE(Criterion):
    """Eq. 2 (see :func:`mlml.losses.functional.weighted_bce`); plain BCE (AN) when no weights are given."""

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return weighted_bce(logits, targets, self._weights(logits, weights, known), reduction=self.reduction)


@LOSSES.register("an-ls")
class ANLS(Criterion):
    """AN with label smoothing (:func:`mlml.losses.functional.an_ls`), ε = 0.1 as in Cole et al."""

    def __init__(
        self, epsilon: float = 0.1, smooth_positives: bool = True, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        self.epsilon = _check_real(epsilon, "epsilon", "ANLS", low=0.0, high=1.0)
        self.smooth_positives = bool(smooth_positives)
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.an_ls(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                        epsilon=self.epsilon, smooth_positives=self.smooth_positives)


@LOSSES.register("wan")
class WAN(Criterion):
    """Weak assume negative (:func:`mlml.losses.functional.wan`): negatives weighted 1/(C-1)."""

    def __init__(self, neg_scale: float | None = None, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.neg_scale = None if neg_scale is None else _check_real(neg_scale, "neg_scale", "WAN", low=0.0)
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.wan(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                      neg_scale=self.neg_scale)


class _ExpectedPositives(Criterion):
    """Shared by EPR and ROLE: k, the expected number of positives per sample.

    Given as ``expected_positives``, or estimated in ``setup(observed)`` as the mean number of *observed*
    positives per training sample. Where positives are missing that estimate is a lower bound (with a known
    hiding ratio r, ``k / (1 - r)``). Cole et al. pass k as a constant per data set, the mean number of
    positives of the *fully labelled* training set (elijahcole/single-positive-multi-label, train.py
    ``expected_num_pos``: pascal 1.5, coco 2.9, nuswide 1.9, cub 31.4), which single-positive labels cannot
    give; pass the value when it is known.
    """

    per_entry = False

    def __init__(self, expected_positives: float | None, lam: float, reduction: Reduction) -> None:
        super().__init__()
        owner = type(self).__name__
        self.expected_positives = (
            None if expected_positives is None
            else _check_real(expected_positives, "expected_positives", owner, low=0.0)
        )
        self.lam = _check_real(lam, "lam", owner, low=0.0)
        self.reduction = reduction
        self.k_: float | None = self.expected_positives

    def setup(self, observed: np.ndarray) -> None:
        if self.expected_positives is None:
            self.k_ = mean_positives(observed)

    def _k(self) -> float:
        if self.k_ is None:
            raise MLMLError(
                f"{type(self).__name__} needs the expected number of positives per sample: pass "
                "'expected_positives' or call setup(observed) with the training labels first."
            )
        return self.k_


@LOSSES.register("epr")
class EPR(_ExpectedPositives):
    """Expected positive regularisation (:func:`mlml.losses.functional.epr`); k from ``setup`` or given."""

    def __init__(self, expected_positives: float | None = None, lam: float = 1.0,
                 reduction: Reduction = "mean") -> None:
        super().__init__(expected_positives, lam, reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.epr(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                      expected_positives=self._k(), lam=self.lam)


@LOSSES.register("role")
class ROLE(_ExpectedPositives):
    """Regularised online label estimation (:func:`mlml.losses.functional.role`).

    State: ``label_logits``, an ``nn.Parameter`` of shape ``(n_samples, n_labels)`` (θ; the label estimates
    are ``σ(θ)``) allocated by ``setup(observed)``: ``logit(0.995)`` at observed positives, uniform in
    ``±logit(0.6)`` elsewhere (drawn from ``random_state``), as in the authors' code (models.py
    ``LabelEstimator``; their observed negatives, set to ``logit(0.005)``, do not occur in their ROLE runs, and
    our zeros are their unobserved entries). ``forward`` reads the
    rows ``index`` and gradients flow into them, so **the trainer must optimise ``criterion.parameters()``**
    together with the model's (the authors use Adam with ``lr_multiplier = 10`` times the model's learning
    rate and no weight decay for θ), and move the criterion to the device after ``setup``.
    """

    lr_multiplier: ClassVar[float] = 10.0

    def __init__(
        self,
        expected_positives: float | None = None,
        lam: float = 1.0,
        reduction: Reduction = "mean",
        random_state: RandomState = 0,
    ) -> None:
        super().__init__(expected_positives, lam, reduction)
        self.random_state = random_state
        self.label_logits: nn.Parameter | None = None

    def setup(self, observed: np.ndarray) -> None:
        super().setup(observed)
        dense = to_dense(check_labels(observed, name="observed"))
        rng = check_random_state(self.random_state)
        bound = math.log(0.6 / 0.4)
        init = rng.uniform(-bound, bound, size=dense.shape)
        init[dense == POSITIVE] = math.log(0.995 / 0.005)
        self.label_logits = nn.Parameter(torch.as_tensor(init, dtype=torch.float32))

    def estimated_labels(self) -> np.ndarray:
        """σ(θ): the current label estimates, float ``(n_samples, n_labels)``."""
        if self.label_logits is None:
            raise MLMLError("ROLE has no label estimates yet; call setup(observed) first.")
        return torch.sigmoid(self.label_logits.detach()).cpu().numpy()

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        if self.label_logits is None:
            raise MLMLError("ROLE keeps per-sample label estimates: call setup(observed) before training.")
        if index is None:
            raise MLMLError("ROLE needs 'index' (the training-set rows of the batch) in forward.")
        theta = self.label_logits[index.to(self.label_logits.device)].to(logits.dtype)
        return LF.role(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                       label_logits=theta, expected_positives=self._k(), lam=self.lam)


@LOSSES.register("focal")
class Focal(Criterion):
    """Focal loss (:func:`mlml.losses.functional.focal`), γ = 2, no α, factor differentiated (Lin et al.'s
    convention, torchvision's ``sigmoid_focal_loss`` with ``alpha=-1``) by default; see the function for why.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, detach_focusing: bool = False,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self.gamma = _check_real(gamma, "gamma", "Focal", low=0.0)
        self.alpha = None if alpha is None else _check_real(alpha, "alpha", "Focal", low=0.0, high=1.0)
        self.detach_focusing = bool(detach_focusing)
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.focal(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                        gamma=self.gamma, alpha=self.alpha, detach_focusing=self.detach_focusing)


@LOSSES.register("asl")
class ASL(Criterion):
    """Asymmetric loss (:func:`mlml.losses.functional.asymmetric`) with the authors' training recipe by
    default (Alibaba-MIIL/ASL train.py): γ+ = 0, γ- = 4, m = 0.05, focusing factors detached.
    """

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, margin: float = 0.05,
                 detach_focusing: bool = True, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.gamma_pos = _check_real(gamma_pos, "gamma_pos", "ASL", low=0.0)
        self.gamma_neg = _check_real(gamma_neg, "gamma_neg", "ASL", low=0.0)
        self.margin = _check_real(margin, "margin", "ASL", low=0.0, high=1.0)
        self.detach_focusing = bool(detach_focusing)
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.asymmetric(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                             gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, margin=self.margin,
                             detach_focusing=self.detach_focusing)


@LOSSES.register("hill")
class Hill(Criterion):
    """Hill loss (:func:`mlml.losses.functional.hill`), λ = 1.5, m = 1, γ = 2 by default."""

    def __init__(self, lam: float = 1.5, margin: float = 1.0, gamma: float = 2.0,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self.lam = _check_real(lam, "lam", "Hill", low=1.0)
        self.margin = _check_real(margin, "margin", "Hill")
        self.gamma = _check_real(gamma, "gamma", "Hill", low=0.0)
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.hill(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                       lam=self.lam, margin=self.margin, gamma=self.gamma)


@LOSSES.register("splc")
class SPLC(Criterion):
    """Self-paced loss correction (:func:`mlml.losses.functional.splc`).

    The correction is off before epoch ``correction_epoch`` (0-based; default 1, i.e. from the second epoch,
    as in the authors' code: robust-loss-mlml's train.py passes its 0-based epoch to ``SPLC.forward``, whose
    ``change_epoch`` is 1) and on from then; ``start_epoch(epoch)`` switches it. τ = 0.6, m = 1, γ = 2, the
    authors' defaults; τ is fixed (the authors' code has no τ schedule).
    """

    def __init__(self, tau: float = 0.6, correction_epoch: int = 1, margin: float = 1.0, gamma: float = 2.0,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self.tau = _check_real(tau, "tau", "SPLC", low=0.0, high=1.0)
        self.correction_epoch = _check_epoch(correction_epoch, "SPLC")
        self.margin = _check_real(margin, "margin", "SPLC")
        self.gamma = _check_real(gamma, "gamma", "SPLC", low=0.0)
        self.reduction = reduction
        self.epoch_ = 0

    @property
    def correcting(self) -> bool:
        return self.epoch_ >= self.correction_epoch

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, "SPLC")

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.splc(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                       tau=self.tau, margin=self.margin, gamma=self.gamma, correct=self.correcting)


class _LargeLoss(Criterion):
    """LL-R / LL-Ct (:func:`mlml.losses.functional.large_loss`) with the authors' schedule.

    The rate grows linearly: ``rate(epoch) = min(1, epoch * delta_rel)`` for the 0-based epoch set by
    ``start_epoch`` (0 in the first epoch: plain BCE). That is the authors' schedule (snucml/LargeLossMatters:
    config.py sets ``clean_rate = 1`` and divides ``--delta_rel`` by 100, train.py subtracts it after every
    epoch, losses.py uses ``k = ceil(B C (1 - clean_rate))``), with two differences on purpose: the rate is
    capped at 1 (theirs would ask ``topk`` for more entries than the batch has), and k is not moved by the
    float noise of their repeated subtraction. ``delta_rel`` is a fraction per epoch: the paper's Δ_rel is in
    percent (0.2 % -> ``delta_rel=0.002``; their README sweeps 0.1 to 0.5 %). Ties and ``k`` larger than the
    candidates: see :func:`mlml.losses.functional.large_loss_mask`.
    """

    mode: ClassVar[Literal["reject", "correct"]]

    def __init__(self, delta_rel: float = 0.002, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.delta_rel = _check_real(delta_rel, "delta_rel", type(self).__name__, low=0.0, high=1.0)
        self.reduction = reduction
        self.epoch_ = 0

    @property
    def rate(self) -> float:
        return min(1.0, self.epoch_ * self.delta_rel)

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, type(self).__name__)

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.large_loss(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                             rate=self.rate, mode=self.mode)


@LOSSES.register("ll-r")
class LargeLossRejection(_LargeLoss):
    """LL-R: the largest assumed-negative losses of the batch get weight 0."""

    mode = "reject"


@LOSSES.register("ll-ct")
class LargeLossCorrection(_LargeLoss):
    """LL-Ct: the largest assumed-negative losses of the batch count against label 1 (this batch only)."""

    mode = "correct"


@LOSSES.register("partial-bce")
class PartialBCE(Criterion):
    """Partial BCE (:func:`mlml.losses.functional.partial_bce`), normalised by the proportion of known labels.

    Uses ``known`` from forward (all known where None); ``g(p) = α p^γ + β`` with ``g(1) = 1``, ``g(0.1) =
    5``.
    """

    def __init__(self, gamma: float = 1.0, alpha: float | None = None, beta: float | None = None,
                 reduction: Reduction = "mean") -> None:
        super().__init__()
        self.gamma = _check_real(gamma, "gamma", "PartialBCE", low=0.0, low_open=True)
        if (alpha is None) != (beta is None):
            raise MLMLError("PartialBCE takes both 'alpha' and 'beta' or neither (then g(1)=1, g(0.1)=5).")
        if alpha is None:
            alpha, beta = LF.partial_bce_coefficients(self.gamma)
        self.alpha, self.beta = alpha, beta
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.partial_bce(
            logits, targets, weights, reduction=self.reduction, known=known, gamma=self.gamma,
            alpha=self.alpha, beta=self.beta,
        )


# ---------------------------------------------------------------------------------------------- ours: soft
@LOSSES.register("soft-bce")
class SoftBCE(Criterion):
    """:func:`mlml.losses.functional.soft_bce` (soft pseudo-labels on observed zeros, read from ω); plain BCE
    when no weights are given."""

    needs_pair = True

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.soft_bce(logits, targets, self._weights(logits, weights, known), reduction=self.reduction)


@LOSSES.register("weak-soft-bce")
class WeakSoftBCE(Criterion):
    """:func:`~mlml.losses.functional.soft_bce` with EVERY term of an observed zero weighted γ: weak zeros (ours).

    ``loss_ic = −[ω log σ(z) + ω̄ (1 − y) log(1 − σ(z))] · (y + (1 − y) γ)``. On an observed zero with the
    adaptive estimator's ``(ω, ω̄) = (q, 1 − q)`` that is ``γ`` times the cross-entropy against the soft target
    ``q`` -- its minimiser stays ``p = q`` (scaling only the negative term, as WAN does, would move it to
    ``q / (q + γ (1 − q))``) -- while the zeros as a whole weigh less than the observed positives.

    Args:
        zero_weight: γ: ``"balanced"`` (default) ``k / (C − k)``, with ``k`` the mean number of observed
            positives per training row (read in :meth:`setup`), so that zeros and positives carry the same total
            weight; ``"wan"``: ``1 / (C − 1)``, WAN's; or a float in (0, 1].
        reduction: as :func:`~mlml.losses.functional.soft_bce`.
    """

    needs_pair = True

    def __init__(self, zero_weight: str | float = "balanced", reduction: Reduction = "mean") -> None:
        super().__init__()
        if isinstance(zero_weight, str):
            check_option(zero_weight, "zero_weight", "weak-soft-bce", ("balanced", "wan"))
        else:
            _check_real(zero_weight, "zero_weight", "weak-soft-bce", low=0.0, low_open=True, high=1.0)
        self.zero_weight = zero_weight
        self.reduction = reduction
        self.gamma_: float | None = None if isinstance(zero_weight, str) else float(zero_weight)

    def setup(self, observed) -> None:  # type: ignore[override]
        n_labels = observed.shape[1]
        if self.zero_weight == "wan":
            self.gamma_ = 1.0 / max(n_labels - 1, 1)
        elif self.zero_weight == "balanced":
            k = mean_positives(observed)
            self.gamma_ = float(np.clip(k / max(n_labels - k, 1e-12), 1e-6, 1.0))

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        if self.gamma_ is None:
            raise MLMLError(f"weak-soft-bce with zero_weight={self.zero_weight!r} needs setup(observed) first.")
        y = targets.to(logits.dtype)
        pos, neg = LF.pair_weights(y, self._weights(logits, weights, known))
        scale = y + (1.0 - y) * self.gamma_
        return LF.soft_bce(logits, targets, (pos * scale, neg * scale), reduction=self.reduction)


@LOSSES.register("soft-asl")
class SoftASL(ASL):
    """:func:`~mlml.losses.functional.soft_asl` (soft pseudo-labels with ASL focusing, ours); ``asl``'s parameters
    and defaults (γ+ = 0, γ− = 4, m = 0.05, focusing detached). With no weights it is ``asl``."""

    needs_pair = True

    def forward(self, logits, targets, weights=None, *, index=None, known=None):  # type: ignore[override]
        return LF.soft_asl(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                           gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, margin=self.margin,
                           detach_focusing=self.detach_focusing)
