"""The class-aware selective loss (Ben-Baruch et al. 2022) and its class prior."""

from __future__ import annotations

import numpy as np
import torch

from mlml._params import COUNT, FRACTION, Options, Sequence
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, check_labels, to_dense
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.modules.base import Criterion
from mlml.losses.registry import LOSSES

#: How the class prior ``P̂(c)`` is obtained (the ``prior`` parameter of :class:`CSL`, or a list of floats).
PRIOR_SOURCES: tuple[str, ...] = ("ignore-model", "annotated")


def annotated_prior(observed: np.ndarray) -> np.ndarray:
    """The naive class prior from the annotations: ``n_c / #{i : y_ic ≠ −1}`` (positives over known entries of
    class ``c``; 0 for a class with no known entry) -- the estimate Ben-Baruch et al. improve on."""
    dense = to_dense(check_labels(observed, name="observed"))
    known = (dense != UNKNOWN).sum(axis=0)
    positives = (dense == POSITIVE).sum(axis=0)
    return np.divide(positives, known, out=np.zeros(dense.shape[1]), where=known > 0)


@LOSSES.register("csl")
class CSL(Criterion):
    """Class-aware selective loss (:func:`mlml.losses.functional.csl`), the authors' random-per-sample recipe.

    Un-annotated entries are the unknown entries (``known`` False: CSL reads them, with weight 1 -- this loss
    decides their fate itself) and the suspect zeros (``suspect``); annotated negatives are the verified negatives.

    The class prior ``P̂(c)`` (``prior``):

    * ``"ignore-model"`` (default, the paper's): the mean predicted probability over the training rows of a
      temporary model trained in "Ignore" mode -- the trainer trains the ``bce`` method on the same rows first
      (unannotated entries get weight 0; suspect zeros, which cannot all be ignored, are assumed negative) and
      hands the prior over with :meth:`set_class_prior` (the class flag ``needs_class_prior`` asks for it);
    * ``"annotated"``: the naive estimate from the annotations, :func:`annotated_prior`, read in ``setup``;
    * a sequence of ``n_labels`` floats in [0, 1].

    Args:
        prior: as above.
        prior_threshold: classes with ``P̂(c)`` above it have their un-annotated entries ignored (None: off).
        likelihood_topk: ``K``: the ``K × batch`` likeliest un-annotated entries of a batch are ignored.
        gamma_pos, gamma_neg, gamma_unann, clip, alpha_pos, alpha_neg, alpha_unann: the partial asymmetric loss.
    """

    reads_unknown = True
    _parameter_constraints = {
        **Criterion._parameter_constraints, "prior": [Options(PRIOR_SOURCES), Sequence(FRACTION)],
        "prior_threshold": [None, FRACTION], "likelihood_topk": [COUNT],
        **LF.csl._parameter_constraints,
    }

    def __init__(
        self,
        prior: str | list[float] = "ignore-model",
        prior_threshold: float | None = 0.5,
        likelihood_topk: int = 5,
        gamma_pos: float = 0.0,
        gamma_neg: float = 1.0,
        gamma_unann: float = 4.0,
        clip: float = 0.0,
        alpha_pos: float = 1.0,
        alpha_neg: float = 1.0,
        alpha_unann: float = 1.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._set_params(prior=prior, prior_threshold=prior_threshold, likelihood_topk=likelihood_topk,
                         gamma_pos=gamma_pos, gamma_neg=gamma_neg, gamma_unann=gamma_unann, clip=clip,
                         alpha_pos=alpha_pos, alpha_neg=alpha_neg, alpha_unann=alpha_unann, reduction=reduction)
        given = None if isinstance(self.prior, str) else np.asarray(self.prior, dtype=np.float64)
        if given is not None:
            self.prior = given.tolist()
        # the prior in use; a buffer, so that checkpoints keep it (NaN until known)
        self.register_buffer("class_prior", torch.full((0,), float("nan")) if given is None
                             else torch.as_tensor(given, dtype=torch.float32))

    @property
    def needs_class_prior(self) -> bool:  # type: ignore[override]
        """Whether the trainer must provide the prior (``prior="ignore-model"``) through :meth:`set_class_prior`."""
        return self.prior == "ignore-model"

    def setup(self, observed: np.ndarray) -> None:
        n_labels = observed.shape[1]
        if self.prior == "annotated":
            self.set_class_prior(annotated_prior(observed))
        elif not isinstance(self.prior, str) and len(self.prior) != n_labels:
            raise MLMLError(f"The 'prior' of CSL has {len(self.prior)} values; the labels have {n_labels} classes.")

    def set_class_prior(self, prior: np.ndarray) -> None:
        """Use ``prior`` ``(n_labels,)`` (values in [0, 1]) as ``P̂(c)``."""
        values = np.asarray(prior, dtype=np.float64)
        if values.ndim != 1 or not np.all(np.isfinite(values)) or values.min(initial=0) < 0 or values.max(
                initial=0) > 1:
            raise MLMLError(f"A class prior must be a 1-D array of probabilities. Got {prior!r:.80}.")
        self.class_prior = torch.as_tensor(values, dtype=torch.float32, device=self.class_prior.device)

    def _prior(self) -> torch.Tensor | None:
        if self.prior_threshold is None or self.prior_threshold == 0:
            return None
        if self.class_prior.numel() == 0:
            raise MLMLError("CSL has no class prior yet: with prior='ignore-model' the trainer provides it "
                            "(set_class_prior); call setup(observed) for prior='annotated'.")
        return self.class_prior

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # type: ignore[override]
        prior = state_dict.get("class_prior")
        if prior is not None and prior.shape != self.class_prior.shape:  # the buffer's size is only known then
            self.class_prior = torch.empty_like(prior, device=self.class_prior.device)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        unannotated = None
        w = self._weights(logits, weights, known)
        if known is not None or suspect is not None:
            zeros = targets == 0
            unknown = torch.zeros_like(zeros) if known is None else ~known.to(torch.bool)
            unannotated = (unknown & zeros) | (zeros if suspect is None else LF.suspect_zeros(targets, suspect))
            if w is not None and known is not None:  # CSL reads the unknown entries itself: weight 1 there
                w = LF.entry_weight(targets.to(logits.dtype), w)
                w = torch.where(unknown, torch.ones_like(w), w)
        return LF.csl(logits, targets, w, reduction=self.reduction, unannotated=unannotated, prior=self._prior(),
                      prior_threshold=self.prior_threshold, likelihood_topk=self.likelihood_topk,
                      gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, gamma_unann=self.gamma_unann,
                      clip=self.clip, alpha_pos=self.alpha_pos, alpha_neg=self.alpha_neg,
                      alpha_unann=self.alpha_unann)
