"""GR loss (Chen et al. 2024) and the GPR loss of AEVLP (Tran et al. 2025), with the authors' schedule."""

from __future__ import annotations

from numbers import Real

from mlml._params import POSITIVE_INT, POSITIVE_REAL, Interval, Sequence
from mlml._validation import check_real
from mlml.exceptions import MLMLError
from mlml.losses import functional as LF
from mlml.losses.functional import Reduction
from mlml.losses.functional.robust import GR_PARAMS
from mlml.losses.modules.base import Criterion, _check_epoch, mean_positives
from mlml.losses.registry import LOSSES

#: A ``[start, end]`` pair of the schedule.
PAIR = Sequence(Interval(Real, None, None), length=2)


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

    _parameter_constraints = {**Criterion._parameter_constraints, "k_weight": [PAIR], "k_bias": [PAIR],
                              "v_mean": [PAIR], "v_std": [Sequence(POSITIVE_REAL, length=2)], "q2": GR_PARAMS["q2"],
                              "q3": GR_PARAMS["q3"], "num_epochs": [POSITIVE_INT]}

    def __init__(self, k_weight: tuple[float, float] = (0.0, 2.0), k_bias: tuple[float, float] = (-2.0, -2.0),
                 v_mean: tuple[float, float] = (0.5, 0.8), v_std: tuple[float, float] = (2.0, 0.5), q2: float = 0.01,
                 q3: float = 1.0, num_epochs: int = 8, reduction: Reduction = "mean") -> None:
        super().__init__()
        self._set_params(k_weight=k_weight, k_bias=k_bias, v_mean=v_mean, v_std=v_std, q2=q2, q3=q3,
                         num_epochs=num_epochs, reduction=reduction)
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

    _parameter_constraints = {
        **GRLoss._parameter_constraints,
        **{key: LF.gpr_loss._parameter_constraints[key] for key in ("lam1", "lam2", "rho", "reg")},
        "expected_positives": [None, *LF.gpr_loss._parameter_constraints["expected_positives"]],
    }

    def __init__(self, k_weight: tuple[float, float] = (0.0, 10.0), k_bias: tuple[float, float] = (-2.0, -8.0),
                 v_mean: tuple[float, float] = (0.5, 0.8), v_std: tuple[float, float] = (2.0, 0.5), q2: float = 0.01,
                 q3: float = 1.0, num_epochs: int = 8, lam1: float = 0.7, lam2: float = 0.5, rho: float = 0.9,
                 reg: float = 0.001, expected_positives: float | None = None,
                 reduction: Reduction = "mean") -> None:
        super().__init__(k_weight, k_bias, v_mean, v_std, q2, q3, num_epochs, reduction)
        self._set_params(lam1=lam1, lam2=lam2, rho=rho, reg=reg, expected_positives=expected_positives)
        check_real(self.lam2, "lam2", type(self).__name__, low=0.0, high=self.lam1)  # λ2 <= λ1
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
