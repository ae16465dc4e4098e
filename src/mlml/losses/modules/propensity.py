"""The propensity-scored losses (:mod:`mlml.losses.functional.propensity`): propensities from the training labels."""

from __future__ import annotations

import numpy as np
import torch

from mlml.exceptions import MLMLError
from mlml.labels import check_labels, label_counts
from mlml.losses.functional import Reduction
from mlml.losses.functional.propensity import propensity_weighted_bce, unbiased_bce
from mlml.losses.modules.base import Criterion
from mlml.losses.registry import LOSSES
from mlml.propensity import AB_CONSTRAINTS, DEFAULT_A, DEFAULT_B, propensity


class _Propensity(Criterion):
    """Holds Jain et al.'s ``a`` and ``b``; ``setup(observed)`` computes ``p_l`` from the training rows' observed
    labels (``N`` rows, ``N_l`` observed positives of label ``l``) into the buffer ``propensity``. Every zero,
    suspect or verified (``suspect``), takes the same plain negative term: the propensity corrects the positives."""

    _parameter_constraints = {**Criterion._parameter_constraints, **AB_CONSTRAINTS}

    def __init__(self, a: float = DEFAULT_A, b: float = DEFAULT_B, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(a=a, b=b, reduction=reduction)
        self.register_buffer("propensity", torch.empty(0))

    def setup(self, observed: np.ndarray) -> None:
        observed = check_labels(observed, name="observed")
        values = propensity(label_counts(observed), observed.shape[0], a=self.a, b=self.b)
        self.propensity = torch.as_tensor(values, dtype=torch.float32, device=self.propensity.device)

    def _checked(self) -> torch.Tensor:
        if not self.propensity.numel():
            raise MLMLError(f"{type(self).__name__} reads label propensities: call setup(observed) before training.")
        return self.propensity


@LOSSES.register("unbiased-bce")
class UnbiasedBCE(_Propensity):
    """Unbiased BCE for missing labels (Schultheis et al. 2020;
    :func:`~mlml.losses.functional.propensity.unbiased_bce`)."""

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return unbiased_bce(logits, targets, self._weights(logits, weights, known), propensity=self._checked(),
                            reduction=self.reduction)


@LOSSES.register("pw-bce")
class PropensityWeightedBCE(_Propensity):
    """Its convex surrogate, positives weighted ``2/p_l − 1`` (Qaraei et al. 2021;
    :func:`~mlml.losses.functional.propensity.propensity_weighted_bce`)."""

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return propensity_weighted_bce(logits, targets, self._weights(logits, weights, known),
                                       propensity=self._checked(), reduction=self.reduction)
