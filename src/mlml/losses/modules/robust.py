"""GR loss (Chen et al. 2024) and the GPR loss of AEVLP (Tran et al. 2025), with the authors' schedule."""

from __future__ import annotations

from collections.abc import Sequence

from mlml._validation import check_positive_int
from mlml._validation import check_real as _check_real
from mlml.exceptions import MLMLError
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.modules.base import Criterion, _check_epoch, mean_positives
from mlml.losses.registry import LOSSES


def _pair(value: Sequence[float], name: str, owner: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise MLMLError(f"The {name!r} parameter of {owner} must be a pair [start, end] of real numbers. "
                        f"Got {value!r} instead.")
    return (_check_real(value[0], name, owner), _check_real(value[1], name, owner))


@LOSSES.register("gr")
class GRLoss(Criterion):
    """GR loss (:func:`mlml.losses.functional.gr_loss`) with the authors' linear schedule.

    In the authors' 1-based epoch ``E = epoch + 1`` (``epoch`` from ``start_epoch``), over ``T = num_epochs``:
    ``w = w₀ + (w_T − w₀) max(E − 1, 0) / T``, likewise ``b``; ``μ = μ₀ + (μ_T − μ₀) E / T``, likewise ``σ_V``
    (yan4xi1/GRLoss ``train.py``, ``linear_init = 0``; ``config.py`` defaults β = [w₀, w_T, b₀, b_T] =
    [0, 2, −2, −2], α = [μ₀, σ₀, μ_T, σ_T] = [0.5, 2, 0.8, 0.5], q₂ = 0.01, q₃ = 1, 8 epochs). Beyond epoch T
    (the authors stop there; our runs may train longer) the parameters stay at their epoch-T values.

    Args:
        k_weight, k_bias: ``[start, end]`` of ``w`` and ``b``.
        v_mean, v_std: ``[start, end]`` of ``μ`` and ``σ_V``.
        q2, q3: the exponents of ``L₁`` and ``L₂``.
        num_epochs: ``T``, the schedule's length.
    """

    def __init__(self, k_weight: Sequence[float] = (0.0, 2.0), k_bias: Sequence[float] = (-2.0, -2.0),
                 v_mean: Sequence[float] = (0.5, 0.8), v_std: Sequence[float] = (2.0, 0.5), q2: float = 0.01,
                 q3: float = 1.0, num_epochs: int = 8, reduction: Reduction = "mean") -> None:
        super().__init__()
        owner = type(self).__name__
        self.k_weight, self.k_bias = _pair(k_weight, "k_weight", owner), _pair(k_bias, "k_bias", owner)
        self.v_mean, self.v_std = _pair(v_mean, "v_mean", owner), _pair(v_std, "v_std", owner)
        if min(self.v_std) <= 0:
            raise MLMLError(f"The 'v_std' parameter of {owner} must be positive. Got {v_std!r} instead.")
        self.q2 = _check_real(q2, "q2", owner, low=0.0, low_open=True)
        self.q3 = _check_real(q3, "q3", owner, low=0.0, low_open=True)
        self.num_epochs = check_positive_int(num_epochs, "num_epochs", owner)
        self.reduction = reduction
        self.epoch_ = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch_ = _check_epoch(epoch, type(self).__name__)

    def schedule(self) -> dict[str, float]:
        """The current ``k_weight``, ``k_bias``, ``v_mean``, ``v_std`` (the authors' ``w, b, mu, sigma``)."""
        big_t = self.num_epochs
        e = min(self.epoch_ + 1, big_t)

        def at(pair: tuple[float, float], step: int) -> float:
            return pair[0] + (pair[1] - pair[0]) * max(step, 0) / big_t

        return {"k_weight": at(self.k_weight, e - 1), "k_bias": at(self.k_bias, e - 1),
                "v_mean": at(self.v_mean, e), "v_std": at(self.v_std, e)}

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        return LF.gr_loss(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                          q2=self.q2, q3=self.q3, suspect=suspect, **self.schedule())


@LOSSES.register("gpr")
class GPRLoss(GRLoss):
    """The GPR loss of AEVLP (:func:`mlml.losses.functional.gpr_loss`) with GR loss's schedule (:class:`GRLoss`).

    Reads ω on observed zeros as the weight ``q`` of a pseudo-positive term (``needs_pair``): pair it with an
    estimator that sets it on purpose (``pu-adaptive``/``knn-pu-adaptive`` with ``pseudo_positive = 1``: our
    confidence estimators' posteriors as soft pseudo-labels, where the authors use CLIP's hard ones). Defaults:
    the authors' COCO configuration (Fsoft-AIC/AEVLP ``configs/coco.json``: β = [0, 10, −2, −8], α = [0.5, 2,
    0.8, 0.5], q₂q₃ = [0.01, 1], λ = [0.7, 0.5], ρ = 0.9, reg = 0.001, 8 epochs). ``expected_positives``: k of
    the regulariser, given, or the mean number of observed positives per training row (``setup``; a lower bound
    where positives are missing -- the authors pass the fully labelled mean, COCO 2.9, as Cole et al. do).
    """

    needs_pair = True
    per_entry = False

    def __init__(self, k_weight: Sequence[float] = (0.0, 10.0), k_bias: Sequence[float] = (-2.0, -8.0),
                 v_mean: Sequence[float] = (0.5, 0.8), v_std: Sequence[float] = (2.0, 0.5), q2: float = 0.01,
                 q3: float = 1.0, num_epochs: int = 8, lam1: float = 0.7, lam2: float = 0.5, rho: float = 0.9,
                 reg: float = 0.001, expected_positives: float | None = None,
                 reduction: Reduction = "mean") -> None:
        super().__init__(k_weight, k_bias, v_mean, v_std, q2, q3, num_epochs, reduction)
        owner = type(self).__name__
        self.lam1 = _check_real(lam1, "lam1", owner, low=0.0, high=1.0)
        self.lam2 = _check_real(lam2, "lam2", owner, low=0.0, high=self.lam1)
        self.rho = _check_real(rho, "rho", owner, low=0.0, high=1.0)
        self.reg = _check_real(reg, "reg", owner, low=0.0)
        self.expected_positives = (None if expected_positives is None
                                   else _check_real(expected_positives, "expected_positives", owner, low=0.0))
        self.k_: float | None = self.expected_positives

    def setup(self, observed) -> None:  # type: ignore[override]
        if self.expected_positives is None:
            self.k_ = mean_positives(observed)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):  # type: ignore[override]
        if self.k_ is None:
            raise MLMLError("GPRLoss needs the expected number of positives per sample: pass 'expected_positives' "
                            "or call setup(observed) with the training labels first.")
        return LF.gpr_loss(logits, targets, self._weights(logits, weights, known), reduction=self.reduction,
                           q2=self.q2, q3=self.q3, lam1=self.lam1, lam2=self.lam2, rho=self.rho, reg=self.reg,
                           expected_positives=self.k_, suspect=suspect, **self.schedule())
