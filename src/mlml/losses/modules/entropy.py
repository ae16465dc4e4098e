"""EM and EM + APL (Zhou et al. 2022): entropy maximisation on unannotated labels, asymmetric pseudo-labels."""

from __future__ import annotations

import numpy as np
import torch

from mlml._params import COUNT, FRACTION, POSITIVE_INT
from mlml._validation import check_positive_int
from mlml.exceptions import MLMLError
from mlml.labels import NEGATIVE, check_labels, to_dense
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.functional._base import REDUCTION
from mlml.losses.modules.base import Criterion, _check_epoch
from mlml.losses.registry import LOSSES


@LOSSES.register("em")
class EM(Criterion):
    """The entropy-maximisation loss (:func:`mlml.losses.functional.entropy_maximization`), α = 0.1 (the authors'
    COCO and NUS-WIDE value; Correr-Zhou/SPML-AckTheUnknown ``main.py``)."""

    _parameter_constraints = {**REDUCTION, "alpha": LF.entropy_maximization._parameter_constraints["alpha"]}

    def __init__(self, alpha: float = 0.1, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(alpha=alpha, reduction=reduction)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.entropy_maximization(logits, targets, self._weights(logits, weights, known),
                                       reduction=self.reduction, alpha=self.alpha, suspect=suspect)


@LOSSES.register("em-apl")
class EMAPL(Criterion):
    """EM + asymmetric pseudo-labelling (APL), with the authors' self-paced schedule.

    From the end of (1-based) epoch ``warmup_epochs`` on, after every epoch and for every class ``c``, the
    ``⌊ρ n_c / (T − warmup_epochs)⌋`` suspect zeros of ``c`` not yet pseudo-labelled with the LOWEST predicted
    probability become pseudo-labels with the soft label ``s`` = that probability (``ρ = neg_proportion``,
    ``n_c`` the number of suspect zeros of ``c`` in the training labels, ``T = num_epochs``), trained with
    ``β BCE(z, s)`` from then on; the other suspect zeros keep the entropy term (``−α H(p)``). Only negatives are
    pseudo-labelled ("asymmetric"). Authors' code: Correr-Zhou/SPML-AckTheUnknown, ``main.py``
    ``aysmmetric_pseudo_labeling`` (``neg_PL_num``, ``np.argsort`` ascending, soft label ``−p`` stored in
    ``label_matrix_obs``) and ``train`` (called when ``P['epoch'] >= P['warmup_epoch']``); defaults their COCO
    setting (α = 0.1, β = 0.9, warm-up 5, ρ = 0.9, 10 epochs).

    Differences, on purpose: the probabilities are the ones the epoch's own forward pass gave each training row
    (recorded in ``forward`` from ``index``, as the adaptive weight estimators use them; the authors run an extra
    evaluation pass), and the pseudo-labels are assigned at the start of the next epoch (``start_epoch``), which
    trains on them exactly as theirs -- only the labelling after the last epoch, which nothing uses, is not done.
    Ties in the ascending order are broken by row (stable sort; theirs unspecified). State (``setup``): buffers of
    shape ``(n_samples, n_labels)``, saved with the trainer's checkpoints.
    """

    _parameter_constraints = {**LF.entropy_maximization._parameter_constraints,
                              "warmup_epochs": [COUNT], "neg_proportion": [FRACTION],
                              "num_epochs": [POSITIVE_INT]}

    def __init__(self, alpha: float = 0.1, beta: float = 0.9, warmup_epochs: int = 5, neg_proportion: float = 0.9,
                 num_epochs: int = 10, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(alpha=alpha, beta=beta, warmup_epochs=warmup_epochs, neg_proportion=neg_proportion,
                         num_epochs=num_epochs, reduction=reduction)
        check_positive_int(self.num_epochs, "num_epochs", "EMAPL", minimum=self.warmup_epochs + 1)  # T > warm-up
        self.epoch_ = 0

    def setup(self, observed: np.ndarray) -> None:
        dense = to_dense(check_labels(observed, name="observed"))
        zero = torch.as_tensor(dense == NEGATIVE)
        self.register_buffer("unlabelled_", zero)  # suspect zeros not (yet) pseudo-labelled
        self.register_buffer("pseudo_", torch.zeros_like(zero))
        self.register_buffer("soft_", torch.zeros(dense.shape, dtype=torch.float32))
        self.register_buffer("proba_", torch.zeros(dense.shape, dtype=torch.float32))
        self.register_buffer("per_epoch_", torch.as_tensor(
            np.floor(self.neg_proportion * zero.sum(0).numpy() / (self.num_epochs - self.warmup_epochs)),
            dtype=torch.long))
        self.register_buffer("labelled_after_", torch.tensor(-1))

    def _check_setup(self) -> None:
        if not hasattr(self, "pseudo_"):
            raise MLMLError("em-apl keeps per-sample pseudo-labels: call setup(observed) before training.")

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, "EMAPL")
        self._check_setup()
        # the probabilities recorded in epoch `epoch - 1` (0-based), i.e. the authors' 1-based epoch `epoch`
        if max(self.warmup_epochs, 1) <= epoch and int(self.labelled_after_) < epoch:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(self.proba_)  # each row was trained on by one rank; the others hold 0
            self.pseudo_label()
            self.labelled_after_.fill_(epoch)
        self.proba_.zero_()

    def pseudo_label(self) -> None:
        """Pseudo-label, in every class, the ``per_epoch_`` unlabelled suspect zeros with the lowest recorded
        probability (soft label: that probability)."""
        self._check_setup()
        proba, unlabelled = self.proba_.cpu().numpy(), self.unlabelled_.cpu().numpy()
        for c in np.flatnonzero(self.per_epoch_.cpu().numpy()):
            rows = np.flatnonzero(unlabelled[:, c])
            take = rows[np.argsort(proba[rows, c], kind="stable")[: int(self.per_epoch_[c])]]
            take_t = torch.as_tensor(take, device=self.soft_.device)
            self.soft_[take_t, c] = self.proba_[take_t, c]
            self.pseudo_[take_t, c] = True
            self.unlabelled_[take_t, c] = False

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        self._check_setup()
        if index is None:
            raise MLMLError("em-apl needs 'index' (the training-set rows of the batch) in forward.")
        rows = index.to(self.proba_.device)
        if self.training:
            self.proba_[rows] = torch.sigmoid(logits.detach()).to(device=self.proba_.device, dtype=self.proba_.dtype)
        mask = self.pseudo_[rows].to(logits.device)
        soft = self.soft_[rows].to(device=logits.device, dtype=logits.dtype)
        return LF.entropy_maximization(logits, targets, self._weights(logits, weights, known),
                                       reduction=self.reduction, alpha=self.alpha, beta=self.beta,
                                       pseudo_mask=mask, pseudo_targets=soft, suspect=suspect)
