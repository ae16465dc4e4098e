"""``auto`` as a method name: what ``--method auto``, the grid's ``methods: [auto]`` and
``MissingLabelClassifier(method="auto")`` resolve to.

``auto`` is not a loss paired with an estimator, so it is not registered in :data:`mlml.methods.METHODS` (whose
every entry builds a loss); :func:`resolve_method` gives an :class:`AutoMethod` for the name ``auto`` and the
registered method otherwise. The front ends ask :func:`is_auto` and hand such a method to
:func:`mlml.auto.fit_auto` instead of :func:`mlml.training.fit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mlml.exceptions import MLMLError
from mlml.methods.method import Method

#: The name front ends resolve to an :class:`AutoMethod`.
AUTO = "auto"
#: The pool the default was chosen from (benchmarks/bench_auto.py trains it): plain BCE, the field's robust losses
#: (ASL, Hill), assume-negative variants (label smoothing, weak negatives), the paper's weights and ours, and since the
#: fifth session the field's 2022-2025 single-positive methods (issue 22: entropy maximisation and its asymmetric
#: pseudo-labels, large-loss correction, the GR loss, GPR with our posteriors, SMILE), so that auto is chosen and
#: measured against the frontier.
CANDIDATE_POOL: tuple[str, ...] = ("bce", "asl", "hill", "an-ls", "wan", "cb-wce", "knn-pu-em-balanced",
                                   "em", "em-apl", "ll-cp", "gr", "gpr-pu", "gpr-knn-pu", "smile")
#: The candidates on complete-label (positive-unlabelled) data: the paper's class-balanced weights (cb-wce), our
#: soft pseudo-labels (knn-pu-em-balanced) and entropy maximisation on the zeros (em, Zhou et al. 2022), each the bag
#: of :data:`DEFAULT_SEEDS` seeds -- among the averages of 2-3 of the pool's bags decided by ``select``, the one with
#: the smallest mAP + micro-F1 regret against the best single model of the pool on the development cells, the
#: cheapest of those within 0.001 (benchmarks/bench_auto_bags.py --frontier; docs/auto.md). The fourth session's
#: default, chosen the same way from the pool without the frontier, was asl and knn-pu-em-balanced.
DEFAULT_CANDIDATES: tuple[str, ...] = ("cb-wce", "knn-pu-em-balanced", "em")
#: Joins the pool where the training labels hold unannotated (-1) entries (partial annotations).
PARTIAL_POOL: tuple[str, ...] = ("csl",)
#: The candidates on partial annotations, instead of :data:`DEFAULT_CANDIDATES`: a focal loss (ASL), label smoothing
#: of the known negatives (an-ls) and our soft pseudo-labels, each the bag of :data:`DEFAULT_SEEDS` seeds -- chosen by
#: the same rule on the partial scheme's own development folds (yeast, scene, emotions at p = 0.1, 0.5 under seed 1;
#: the target folds are seed 0's): the default set plus CSL, which this replaced, won the best single baseline's
#: micro-F1 in 2 of those 6 cells (benchmarks/README.md, "Fifth session"). On partial labels the losses that differ
#: only in how they treat suspect zeros (bce, cb-wce, em, ...) coincide: every zero is a known negative.
PARTIAL_CANDIDATES: tuple[str, ...] = ("asl", "an-ls", "knn-pu-em-balanced")
#: The default criterion (chosen on the development subset, benchmarks/bench_auto.py; docs/auto.md).
DEFAULT_CRITERION = "rehide-auc"
#: The default decision rule: ``select`` (per model, the policy of highest micro-F1 estimated on the validation rows
#: and corrected by the diagnosed missing share, 0.5 unless another clearly leads; ``pu`` where no share can be
#: diagnosed). Chosen with the second round's three candidates as two-seed bags: at or above the best single
#: baseline's micro-F1 in 5 of 6 development cells (``calibrated``, the default before: 3), mean regret 0.011
#: (0.018); with the fourth session's two: 5 of 6 (2), -0.015 (0.020), held-out 1 of 4 (1), 0.011 (0.020)
#: (benchmarks/README.md, "Fourth session"; docs/auto.md); the fifth session's three kept it (its choice was made
#: with ``select``).
DEFAULT_POLICY = "select"
#: Training seeds per candidate: each candidate is the bag (probability average) of this many heads trained under
#: different seeds (benchmarks/README.md, "Fourth session": chosen on the development subset).
DEFAULT_SEEDS = 2
_PARAMS = ("candidates", "criterion", "combine", "rehide", "policy", "seeds")


@dataclass(frozen=True)
class AutoMethod(Method):
    """The ``auto`` method: train ``candidates`` (empty: :data:`DEFAULT_CANDIDATES`, or :data:`PARTIAL_CANDIDATES`
    on partial labels); ``combine=0`` (default): average the probabilities of every
    candidate; ``combine=k >= 1``: keep the best by ``criterion`` (:mod:`mlml.auto.criteria`) and average the best
    ``2 .. k`` when that scores better by the criterion (1: never). ``policy``: the threshold policy (a name in
    :data:`mlml.evaluation.policies.POLICIES`, default :data:`DEFAULT_POLICY`) or ``choose`` (per model, by Lee &
    Liu's criterion, cross-fitted on the validation rows). ``rehide``: the share of the validation rows' observed
    positives re-hidden. ``seeds``: how many training seeds each candidate is trained under (its bag: the average
    of their probabilities; 1: one model a candidate). ``positive_weights``: an estimator whose ω every
    candidate's is multiplied by (a recipe's ``positive_weights``)."""

    loss: str = "auto"
    candidates: tuple[str, ...] = ()
    criterion: str = DEFAULT_CRITERION
    combine: int = 0
    rehide: float = 0.5
    policy: str = DEFAULT_POLICY
    seeds: int = DEFAULT_SEEDS
    positive_weights: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        from mlml.auto.criteria import CRITERIA
        from mlml.methods import METHODS

        if self.criterion not in CRITERIA:
            raise MLMLError(f"The 'criterion' parameter of auto must be one of {', '.join(CRITERIA)}. "
                            f"Got {self.criterion!r} instead.")
        if isinstance(self.combine, bool) or not isinstance(self.combine, int) or self.combine < 0:
            raise MLMLError(f"The 'combine' parameter of auto must be an int >= 0. Got {self.combine!r} instead.")
        from mlml.evaluation.policies import POLICIES

        if self.policy not in (*POLICIES, "choose"):
            raise MLMLError(f"The 'policy' parameter of auto must be one of {', '.join(POLICIES)} or choose. "
                            f"Got {self.policy!r} instead.")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise MLMLError(f"The 'seeds' parameter of auto must be an int >= 1. Got {self.seeds!r} instead.")
        if isinstance(self.rehide, bool) or not isinstance(self.rehide, (int, float)) or not 0 < self.rehide < 1:
            raise MLMLError(f"The 'rehide' parameter of auto must be in (0, 1). Got {self.rehide!r} instead.")
        for name in self.candidates:
            candidate = METHODS.get(name)  # raises with the list of valid names
            if candidate.oracle:
                raise MLMLError(f"auto's candidate {name!r} is an oracle (it reads the hidden positives).")

    def candidate_names(self, *, partial: bool) -> tuple[str, ...]:
        """The methods trained: ``candidates`` as given, else the defaults (their own on partial labels)."""
        if self.candidates:
            return tuple(self.candidates)
        return PARTIAL_CANDIDATES if partial else DEFAULT_CANDIDATES

    def candidate_methods(self) -> list[Method]:
        """Every method auto may train (on complete and on partial labels): what a grid checks up front."""
        names = self.candidate_names(partial=False) + self.candidate_names(partial=True)
        return [self.candidate(name) for name in dict.fromkeys(names)]

    def candidate(self, name: str) -> Method:
        """The registered candidate ``name``, with the positive weights of a recipe applied."""
        from mlml.methods import METHODS

        method = METHODS.get(name)
        return method.with_positive_weights(self.positive_weights) if self.positive_weights else method

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "auto": {"candidates": list(self.candidates) or "default",
                                            "criterion": self.criterion, "combine": self.combine,
                                            "rehide": self.rehide, "policy": self.policy, "seeds": self.seeds,
                                            "positive_weights": self.positive_weights}}

    def with_params(self, params: Mapping[str, Any], *, name: str | None = None) -> AutoMethod:
        """A copy with ``candidates`` (a list or a comma-separated string), ``criterion``, ``combine``, ``rehide``,
        ``policy`` or ``seeds`` changed; any other key raises, listing these."""
        values: dict[str, Any] = {}
        for key, value in params.items():
            if key not in _PARAMS:
                raise MLMLError(f"Method 'auto' has no parameter {key!r}. Valid parameters: {', '.join(_PARAMS)}.")
            if key == "candidates":
                value = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) \
                    else tuple(value)
            values[key] = value
        return replace(self, name=name or self.name, **values)

    def with_positive_weights(self, estimator: str, params: Mapping[str, Any] | None = None) -> AutoMethod:
        if params:
            raise MLMLError("auto composes positive weights without parameters.")
        return replace(self, positive_weights=estimator)

    def make_loss(self, **extra: Any) -> Any:
        raise MLMLError("auto has no loss of its own: it trains its candidates (mlml.auto.fit_auto).")

    def make_estimator(self, **extra: Any) -> Any:
        raise MLMLError("auto has no weight estimator of its own: it trains its candidates (mlml.auto.fit_auto); "
                        "--weights-source complete does not apply to it.")


def is_auto(method: Any) -> bool:
    """True for the ``auto`` method (an :class:`AutoMethod`, or the name)."""
    return isinstance(method, AutoMethod) or method == AUTO


def resolve_method(name: str) -> Method:
    """An :class:`AutoMethod` for ``auto``, else ``METHODS.get(name)`` (which raises listing the valid names)."""
    from mlml.methods import METHODS

    if name == AUTO:
        return AutoMethod(AUTO, description="chooses among candidates by a criterion on observed labels")
    return METHODS.get(name)
