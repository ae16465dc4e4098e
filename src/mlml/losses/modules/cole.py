"""Cole et al. 2021: AN-LS, WAN, EPR, ROLE."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from mlml._params import RandomState as RandomStateConstraint
from mlml._validation import RandomState, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, VERIFIED_NEGATIVE, check_labels, to_dense
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.modules.base import Criterion, mean_positives
from mlml.losses.registry import LOSSES


@LOSSES.register("an-ls")
class ANLS(Criterion):
    """AN with label smoothing (:func:`mlml.losses.functional.an_ls`), ε = 0.1 as in Cole et al."""

    _parameter_constraints = {**LF.an_ls._parameter_constraints, "smooth_positives": ["boolean"]}

    def __init__(
        self, epsilon: float = 0.1, smooth_positives: bool = True, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        self._set_params(epsilon=epsilon, smooth_positives=smooth_positives, reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.an_ls(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                        epsilon=self.epsilon, smooth_positives=self.smooth_positives)


@LOSSES.register("wan")
class WAN(Criterion):
    """Weak assume negative (:func:`mlml.losses.functional.wan`): negatives weighted 1/(C-1)."""

    _parameter_constraints = LF.wan._parameter_constraints

    def __init__(self, neg_scale: float | None = None, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(neg_scale=neg_scale, reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.wan(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                      neg_scale=self.neg_scale, suspect=suspect)


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
    #: ``expected_positives`` may be None here (estimated in ``setup``); the function takes a number.
    _parameter_constraints = {**LF.epr._parameter_constraints,
                              "expected_positives": [None, *LF.epr._parameter_constraints["expected_positives"]]}

    def __init__(self, expected_positives: float | None, lam: float, reduction: Reduction) -> None:
        super().__init__()
        self._set_params(expected_positives=expected_positives, lam=lam, reduction=reduction)
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

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.epr(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                      expected_positives=self._k(), lam=self.lam, suspect=suspect)


@LOSSES.register("role")
class ROLE(_ExpectedPositives):
    """Regularised online label estimation (:func:`mlml.losses.functional.role`).

    State: ``label_logits``, an ``nn.Parameter`` of shape ``(n_samples, n_labels)`` (θ; the label estimates
    are ``σ(θ)``) allocated by ``setup(observed)``: ``logit(0.995)`` at observed positives, uniform in
    ``±logit(0.6)`` elsewhere (drawn from ``random_state``), as in the authors' code (models.py
    ``LabelEstimator``; their observed negatives, set to ``logit(0.005)``, do not occur in their ROLE runs; ours,
    the verified negatives (2), start there too, and our suspect zeros are their unobserved entries). ``forward``
    reads the
    rows ``index`` and gradients flow into them, so **the trainer must optimise ``criterion.parameters()``**
    together with the model's (the authors use Adam with ``lr_multiplier = 10`` times the model's learning
    rate and no weight decay for θ), and move the criterion to the device after ``setup``.
    """

    lr_multiplier: ClassVar[float] = 10.0
    _parameter_constraints = {**_ExpectedPositives._parameter_constraints, "random_state": [RandomStateConstraint()]}

    def __init__(
        self,
        expected_positives: float | None = None,
        lam: float = 1.0,
        reduction: Reduction = "mean",
        random_state: RandomState = 0,
    ) -> None:
        super().__init__(expected_positives, lam, reduction)
        self._set_params(random_state=random_state)
        self.label_logits: nn.Parameter | None = None

    def setup(self, observed: np.ndarray) -> None:
        super().setup(observed)
        dense = to_dense(check_labels(observed, name="observed"))
        rng = check_random_state(self.random_state)
        bound = math.log(0.6 / 0.4)
        init = rng.uniform(-bound, bound, size=dense.shape)
        init[dense == POSITIVE] = math.log(0.995 / 0.005)
        init[dense == VERIFIED_NEGATIVE] = math.log(0.005 / 0.995)
        self.label_logits = nn.Parameter(torch.as_tensor(init, dtype=torch.float32))

    def estimated_labels(self) -> np.ndarray:
        """σ(θ): the current label estimates, float ``(n_samples, n_labels)``."""
        if self.label_logits is None:
            raise MLMLError("ROLE has no label estimates yet; call setup(observed) first.")
        return torch.sigmoid(self.label_logits.detach()).cpu().numpy()

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        if self.label_logits is None:
            raise MLMLError("ROLE keeps per-sample label estimates: call setup(observed) before training.")
        if index is None:
            raise MLMLError("ROLE needs 'index' (the training-set rows of the batch) in forward.")
        theta = self.label_logits[index.to(self.label_logits.device)].to(logits.dtype)
        return LF.role(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                       label_logits=theta, expected_positives=self._k(), lam=self.lam, suspect=suspect)
