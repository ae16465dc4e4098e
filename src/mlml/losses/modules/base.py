"""The interface every registered loss module implements (the trainer talks to it only)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from torch import Tensor, nn

from mlml._params import COUNT, validate_params
from mlml.labels import check_labels, positives_per_sample
from mlml.losses.functional import Weights
from mlml.losses.functional._base import REDUCTION


class Criterion(nn.Module):
    """Base class of every registered loss; the trainer talks to this interface only.

    ``forward(logits, targets, weights=None, *, index=None, known=None, suspect=None)``:

    * ``logits``  -- float ``(batch, n_labels)``;
    * ``targets`` -- float ``(batch, n_labels)`` in {0, 1}: observed positives are 1, everything else 0
      (losses never see -1; unknown entries arrive with zero weight and ``known`` False);
    * ``weights`` -- the entry weight ``w = y ω + (1 − y) ω̄``, float ``(batch, n_labels)``, or the pair ``(ω, ω̄)``
      (what the trainer passes where ``needs_pair``), from a weight estimator; or None for unit weights;
    * ``index``   -- long ``(batch,)``: the rows of the training set in this batch (stateful losses such as
      ROLE keep per-sample state);
    * ``known``   -- bool ``(batch, n_labels)``: False where the label is unknown (-1). Where ``weights`` is
      None it becomes the weights (unknown entries get weight 0); where weights are given they already hold
      0 at unknown entries (the estimator contract) and ``known`` is not applied again;
    * ``suspect`` -- bool ``(batch, n_labels)``: True on the suspect zeros (observed ``0``), the only entries a
      loss may reject, correct, down-weight or give a pseudo-positive term; a zero target outside it is a
      verified negative (observed ``2``), certain. None: every zero is suspect (the positive-unlabelled regime).
      The trainer always passes it (``labels == 0`` of the batch); see :mod:`mlml.losses.functional._base`.

    Hooks the trainer calls: ``setup(observed)`` once before training, with the training rows' observed labels
    (int8 ``(n_samples, n_labels)``, -1 allowed; for per-sample state and label statistics), and
    ``start_epoch(epoch)`` at the start of every epoch (0-based). Both default to no-ops.

    Class attributes the trainer and the common tests read: ``needs_pair`` (the loss reads ω on observed zeros,
    so the trainer passes ``(ω, ω̄)``; every other loss gets the combined entry weight, computed once),
    ``per_entry`` (the loss is a sum of weighted per-entry terms with no batch-level penalty: zero weight gives
    exactly zero gradient for the entry), ``reads_unknown`` (the loss trains the unknown entries flagged by
    ``known`` itself, as CSL does, instead of leaving them out), and ``needs_class_prior`` (the trainer must hand
    it a class prior with ``set_class_prior`` after ``setup``).
    """

    #: What each constructor parameter may be (:mod:`mlml._params`); every registered loss declares all of its
    #: own (``tests/test_parameters.py`` checks it) and stores them with :meth:`_set_params`.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = dict(REDUCTION)
    needs_pair: ClassVar[bool] = False
    per_entry: ClassVar[bool] = True
    reads_unknown: ClassVar[bool] = False
    needs_class_prior: bool = False

    def _set_params(self, **params: Any) -> None:
        """Check ``params`` against the class's ``_parameter_constraints`` and store them, converted, as
        attributes (an MLMLError names the class, the parameter, the constraint and the value)."""
        for name, value in validate_params(params, self._parameter_constraints, type(self).__name__).items():
            setattr(self, name, value)

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
        suspect: Tensor | None = None,
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
    """The epoch ``start_epoch`` received, an int >= 0."""
    return validate_params({"epoch": epoch}, {"epoch": [COUNT]}, f"{owner}.start_epoch")["epoch"]


def mean_positives(observed: np.ndarray) -> float:
    """Mean number of observed positives per sample of a label matrix (-1 allowed)."""
    observed = check_labels(observed, name="observed")
    return float(np.mean(positives_per_sample(observed)))
