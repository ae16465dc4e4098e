"""Threshold policies: from scores to decisions, without trusting the observed zeros.

A model trained on observed labels scores ``p(s = 1 | x)``; missing positives make those scores low, and a threshold
tuned on the validation rows' observed labels counts every missing positive it recovers as a false positive, so it
moves up exactly where labels are missing. The policies here are fitted on the validation rows -- their scores, their
observed labels, and the *soft truth*

    t_ic = 1 for an observed positive,   t_ic = q_ic for an observed zero,

where ``q_ic`` is the probability that the zero is a missing positive, from a labels-only confidence estimator fitted
on the TRAINING rows' observed labels (:func:`posterior`; nothing else is read: no hidden mask, no test label) --
and applied to any scores:

=============  =====================================================================================================
policy         decision
=============  =====================================================================================================
``fixed``      ``s >= 0.5`` (the paper's)
``tuned``      per class, the threshold maximising F1 on the validation rows' observed labels (trusts the zeros)
``expected``   per class, the threshold maximising the expected F1 under the soft truth: plug-in of the expected
               counts, ``2 E[TP] / (2 E[TP] + E[FP] + E[FN])`` (Jansche 2007; Ye et al., ICML 2012,
               "Optimizing F-measures: a tale of two approaches")
``calibrated`` per class, Platt scaling ``σ(a_c logit s + b_c)`` fitted to the soft truth (shrunk towards one
               shared ``(a, b)`` so rare classes stay stable), then ONE shared threshold on the calibrated
               probabilities maximising the expected micro-F1 -- the form of the micro-F1-optimal classifier
               (Koyejo et al., NeurIPS 2015, "Consistent Multilabel Classification"; Lipton et al. 2014,
               "Thresholding classifiers to maximize F1")
``cardinality`` per sample, the ``k_i`` labels of highest calibrated probability, ``k_i`` = the expected number of
               positives ``Σ_c p_ic`` rounded (calibration as ``calibrated``; at least one label)
``pu``         one shared threshold on ``s / c_k``, Elkan & Noto's correction (:func:`pu_decision`)
``select``     one of the six above, per model: the one of highest estimated micro-F1 on validation rows it was
               not fitted on, the estimate corrected by the diagnosed share of missing positives
               (:func:`select_decision`)
=============  =====================================================================================================

Every policy is expressed as thresholds on the model's raw scores -- ``(n_labels,)`` per class, or ``(n_samples,
n_labels)`` for the per-sample policy -- so that :func:`mlml.evaluation.evaluate` scores it and the ranking metrics
(AP, AUC) stay those of the raw scores.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mlml._validation import check_option
from mlml.evaluation.metrics import UndefinedMetricWarning
from mlml.evaluation.thresholds import FALLBACK_THRESHOLD, f1_curves, threshold_grid, tune_thresholds
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, to_dense

#: The policies fitted by a rule of their own (what ``select`` chooses among), in the order reports show them.
BASE_POLICIES: tuple[str, ...] = ("fixed", "tuned", "expected", "calibrated", "cardinality", "pu")
#: Every threshold policy, in the order reports show them.
POLICIES: tuple[str, ...] = (*BASE_POLICIES, "select")
#: Policies that read the soft truth (a posterior of the observed zeros).
SOFT_POLICIES: tuple[str, ...] = ("expected", "calibrated", "cardinality", "select")
#: ``select`` leaves 0.5 only for a policy that leads in at least this share of bootstrap replicates of the
#: validation rows (chosen on the development folds, benchmarks/README.md "Third session"), of this many.
SELECT_CONFIDENCE = 0.9
SELECT_BOOTSTRAP = 400
#: Pseudo-observations pulling each class's Platt parameters towards the shared ones.
_SHRINK = 20.0
_EPS = 1e-6


@dataclass
class Decision:
    """A fitted policy (see the module docstring): ``thresholds(scores)`` gives the raw-score thresholds.

    Attributes:
        policy: its name.
        class_thresholds: ``(n_labels,)`` per-class thresholds on raw scores (``fixed``, ``tuned``, ``expected``,
            ``calibrated``); None for ``cardinality``.
        slope, intercept: ``(n_labels,)`` Platt parameters (``calibrated``, ``cardinality``).
        shared: the shared threshold on calibrated probabilities (``calibrated``).
    """

    policy: str
    class_thresholds: np.ndarray | None = None
    slope: np.ndarray | None = None
    intercept: np.ndarray | None = None
    shared: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def calibrate(self, scores: ArrayLike) -> np.ndarray:
        """Calibrated probabilities ``σ(a_c logit s + b_c)`` (the scores themselves without calibration)."""
        s = np.asarray(scores, dtype=np.float64)
        if self.slope is None:
            return s
        return _sigmoid(self.slope * _logit(s) + self.intercept)

    def thresholds(self, scores: ArrayLike) -> np.ndarray:
        """Thresholds on the raw ``scores``: ``(n_labels,)``, or ``(n_samples, n_labels)`` per sample."""
        if self.policy != "cardinality":
            return self.class_thresholds
        p = self.calibrate(scores)
        n, n_labels = p.shape
        k = np.clip(np.rint(p.sum(axis=1)), 1, n_labels).astype(int)
        kth = -np.sort(-p, axis=1)[np.arange(n), k - 1]  # the k-th largest calibrated probability of each row
        # back on the raw scale, a hair below so that the k-th entry itself stays selected despite rounding
        return _sigmoid((_logit(kth)[:, None] - self.intercept) / self.slope - 1e-7)

    def predict(self, scores: ArrayLike) -> np.ndarray:
        """Binary decisions ``(n_samples, n_labels)`` int8."""
        s = np.asarray(scores, dtype=np.float64)
        return (s >= self.thresholds(s)).astype(np.int8)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what ``model.json`` stores)."""
        def plain(v: Any) -> Any:
            return v.tolist() if isinstance(v, np.ndarray) else v

        return {"policy": self.policy, "class_thresholds": plain(self.class_thresholds), "slope": plain(self.slope),
                "intercept": plain(self.intercept), "shared": self.shared, "info": self.info}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Decision:
        def array(v: Any) -> np.ndarray | None:
            return None if v is None else np.asarray(v, dtype=np.float64)

        check_option(values.get("policy"), "policy", "Decision", POLICIES)
        return cls(values["policy"], array(values.get("class_thresholds")), array(values.get("slope")),
                   array(values.get("intercept")), values.get("shared"), dict(values.get("info") or {}))


def posterior(train_observed: LabelMatrix, observed: LabelMatrix, *, estimator: str = "pairwise-noisy-or",
              features: Any = None, train_features: Any = None) -> np.ndarray:
    """``q``: for each observed zero of ``observed`` (validation rows), the probability that it is a missing
    positive, from ``estimator`` fitted on the TRAINING rows' observed labels (``1 − ω̄``); 0 elsewhere."""
    from mlml.weights import ESTIMATORS

    est = ESTIMATORS.create(estimator)
    if est.uses_features:
        est.fit(train_observed, features=train_features)
        _, neg = est.transform(observed, features=features)
    else:
        _, neg = est.fit(train_observed).transform(observed)
    zero = to_dense(observed) == 0
    return np.where(zero, np.clip(1.0 - neg, 0.0, 1.0), 0.0)


def soft_truth(observed: LabelMatrix, q: np.ndarray | None) -> np.ndarray:
    """``t``: 1 on observed positives, ``q`` on observed zeros (0 without a posterior), NaN on unknown entries."""
    y = to_dense(observed)
    truth = (y == POSITIVE).astype(np.float64)
    if q is not None:
        truth = np.where(y == 0, q, truth)
    return np.where(y == UNKNOWN, np.nan, truth)


def fit_policies(policies: tuple[str, ...] | list[str], scores: ArrayLike, observed: LabelMatrix, *,
                 q: np.ndarray | None = None, missing_share: float | None = None,
                 grid: int | ArrayLike = 99) -> dict[str, Decision]:
    """:func:`fit_policy` for several policies at once, sharing the one Platt fit of ``calibrated`` and
    ``cardinality``."""
    platt: dict[str, Any] = {}
    return {policy: fit_policy(policy, scores, observed, q=q, missing_share=missing_share, grid=grid, _platt=platt)
            for policy in policies}


def fit_policy(policy: str, scores: ArrayLike, observed: LabelMatrix, *, q: np.ndarray | None = None,
               missing_share: float | None = None, grid: int | ArrayLike = 99,
               _platt: dict[str, Any] | None = None) -> Decision:
    """Fit ``policy`` on the validation rows.

    Args:
        policy: one of :data:`POLICIES`.
        scores: the model's probabilities on the validation rows ``(n_val, n_labels)``.
        observed: their observed labels (int8, 1 / 0 / -1).
        q: the posterior of their observed zeros (:func:`posterior`); required by :data:`SOFT_POLICIES`.
        missing_share: the estimated share of missing positives of the training rows (``select`` only;
            :func:`mlml.service.fold_missing_share`).
        grid: candidate thresholds (see :func:`mlml.evaluation.threshold_grid`).

    Raises:
        MLMLError: an unknown policy, a soft policy without ``q``, ``select`` without ``missing_share``, shapes
            that disagree.
    """
    check_option(policy, "policy", "fit_policy", POLICIES)
    s = np.asarray(scores, dtype=np.float64)
    y = to_dense(observed)
    if s.shape != y.shape:
        raise MLMLError(f"fit_policy: scores have shape {s.shape}; the observed labels {y.shape}.")
    n_labels = y.shape[1]
    if policy == "fixed":
        return Decision(policy, np.full(n_labels, 0.5))
    if policy == "tuned":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            return Decision(policy, tune_thresholds(y, s, grid=grid))
    if policy == "pu":
        return pu_decision(s, y, grid=grid)
    if q is None or np.shape(q) != y.shape:
        raise MLMLError(f"The {policy!r} policy reads the posterior of the observed zeros: pass q of shape {y.shape}.")
    if policy == "select":
        return select_decision(s, y, q=q, missing_share=missing_share, grid=grid)
    truth = soft_truth(y, q)
    if policy == "expected":
        return Decision(policy, expected_f1_thresholds(s, truth, grid=grid))
    platt = _platt if _platt is not None else {}
    if "fit" not in platt:
        platt["fit"] = fit_platt(s, truth)
    slope, intercept = platt["fit"]
    decision = Decision(policy, slope=slope, intercept=intercept)
    if policy == "calibrated":
        decision.shared = shared_threshold(decision.calibrate(s), truth, grid=grid)
        decision.class_thresholds = _sigmoid((_logit(decision.shared) - intercept) / slope)
    return decision


def select_decision(scores: np.ndarray, observed: np.ndarray, *, q: np.ndarray, missing_share: float | None,
                    grid: int | ArrayLike = 99, random_state: int = 0) -> Decision:
    """``select``: the policy of :data:`BASE_POLICIES` with the highest estimated micro-F1 on validation rows it was
    not fitted on, refitted on all of them; ``fixed`` unless that policy's lead is clear.

    The rows are cut in two halves (seeded); each policy is fitted on one half and decides the other, both ways, and
    its observed true positives ``TP_o``, predicted positives ``P̂`` and observed positives ``Pos_o`` are summed.
    Observed labels undercount the positives: with ``c = 1 − m`` the share of positives that are observed (``m``
    the diagnosed missing share of the training rows), and positives missing at random, ``E[TP_o] = c·TP`` and
    ``E[Pos_o] = c·Pos``, so the micro-F1 ``2 TP / (P̂ + Pos)`` is estimated by ``2 TP_o / (c·P̂ + Pos_o)`` (the
    contingency table of a classifier scored on positive and unlabelled data, Claesen et al., Neurocomputing 2015,
    "Assessing binary classifiers using only positive and unlabeled data"). With ``c = 1`` this is the observed
    micro-F1, which counts every recovered missing positive as a false positive and so prefers deciding too little.
    Scoring on the other half keeps ``tuned``, fitted to the very labels it would be scored on, from winning by
    overfitting. Ties go to the earlier policy.

    Few validation rows make the estimate noisy, and the winner of a noisy race is biased upwards; so the winner
    replaces ``fixed`` (0.5, every model's default) only where it leads in at least :data:`SELECT_CONFIDENCE` of
    :data:`SELECT_BOOTSTRAP` bootstrap replicates of the validation rows (the same cross-fitted decisions, rows drawn
    with replacement). Where the share could not be diagnosed (NaN: no label has enough observed positives) the
    decision is ``pu``'s, which rescales the scores by the observed positives' own mean score and needs no share
    (on the development folds where that happens, 0.5 predicts next to nothing: benchmarks/README.md).
    The criterion per policy, the share and the bootstrap's share of replicates are kept in ``info["select"]``.
    """
    if missing_share is None:
        raise MLMLError("The 'select' policy reads the estimated share of missing positives of the training rows: "
                        "pass missing_share (mlml.service.fold_missing_share, or mlml.diagnose).")
    y = np.asarray(observed)
    if len(y) < 2:
        decision = Decision("fixed", np.full(y.shape[1], 0.5))
        decision.info["select"] = {"missing_share": None, "criterion": None, "reason": "fewer than two validation rows"}
        return decision
    if not np.isfinite(missing_share):  # next to no observed positive: Elkan & Noto's rescaling, which needs no share
        decision = pu_decision(scores, y, grid=grid)
        decision.info["select"] = {"missing_share": None, "criterion": None,
                                   "reason": "the missing share could not be diagnosed"}
        return decision
    c = 1.0 - float(np.clip(missing_share, 0.0, 0.99))
    rng = np.random.default_rng(random_state)
    rows = _cross_fitted_counts(scores, y, q, grid, rng.permutation(len(y)))

    def estimate(counts: np.ndarray) -> np.ndarray:  # (..., 3) summed counts -> the micro-F1 estimate
        return 2 * counts[..., 0] / np.maximum(c * counts[..., 1] + counts[..., 2], 1e-12)

    criterion = {p: float(estimate(rows[p].sum(axis=0))) for p in BASE_POLICIES}
    best = max(BASE_POLICIES, key=lambda p: (criterion[p], -BASE_POLICIES.index(p)))
    lead = 1.0
    if best != "fixed":
        wins = []
        chunk = max(1, (1 << 22) // len(y))  # replicates drawn a block at a time: at most 4M row indices held
        for start in range(0, SELECT_BOOTSTRAP, chunk):
            draw = rng.integers(0, len(y), (min(chunk, SELECT_BOOTSTRAP - start), len(y)))
            wins.append(estimate(rows[best][draw].sum(axis=1)) > estimate(rows["fixed"][draw].sum(axis=1)))
        lead = float(np.concatenate(wins).mean())
    chosen = best if lead >= SELECT_CONFIDENCE else "fixed"
    decision = fit_policy(chosen, scores, y, q=q, grid=grid)
    decision.info["select"] = {"missing_share": float(missing_share), "criterion": criterion, "best": best,
                               "lead": lead}
    return decision


def _cross_fitted_counts(scores: np.ndarray, y: np.ndarray, q: np.ndarray, grid: int | ArrayLike,
                         order: np.ndarray) -> dict[str, np.ndarray]:
    """Per policy of :data:`BASE_POLICIES`, per validation row: ``(observed TP, predicted positives, observed
    positives)`` of its decisions, each half of the rows (``order`` cut in two) decided by the policy fitted on the
    other half."""
    known, positive = y != UNKNOWN, y == POSITIVE
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    rows = {p: np.zeros((len(y), 3)) for p in BASE_POLICIES}
    for fit_rows, score_rows in (halves, halves[::-1]):
        s = scores[score_rows]
        for p, decision in fit_policies(BASE_POLICIES, scores[fit_rows], y[fit_rows], q=q[fit_rows],
                                        grid=grid).items():
            chosen = (s >= decision.thresholds(s)) & known[score_rows]
            rows[p][score_rows] = np.stack([(chosen & positive[score_rows]).sum(axis=1), chosen.sum(axis=1),
                                            positive[score_rows].sum(axis=1)], axis=1)
    return rows


def pu_decision(scores: np.ndarray, observed: np.ndarray, *, grid: int | ArrayLike = 99) -> Decision:
    """The positive-unlabelled correction of Elkan & Noto (KDD 2008): with ``c_k = P(s = 1 | y = 1)`` estimated as
    the mean score of class ``k``'s observed positives (their estimator e1, shrunk towards all classes' mean),
    ``P(y = 1 | x) = s / c_k`` and an observed zero is a missing positive with probability ``(1 − c)/c · s/(1 − s)``;
    one shared threshold on ``s / c_k`` maximises the expected micro-F1 under that soft truth."""
    from mlml.weights.adaptive import label_frequency, pu_posterior

    c = label_frequency(scores, observed == POSITIVE)
    q = np.where(observed == 0, pu_posterior(scores, c), 0.0)
    truth = soft_truth(observed, q)
    shared = shared_threshold(np.clip(scores / c, 0.0, 1.0), truth, grid=grid)
    return Decision("pu", np.minimum(shared * c, 1.0), shared=shared, info={"label_frequency": c.tolist()})


def expected_f1_thresholds(scores: np.ndarray, truth: np.ndarray, *, grid: int | ArrayLike = 99) -> np.ndarray:
    """Per class, the candidate threshold maximising ``2 E[TP] / (2 E[TP] + E[FP] + E[FN])`` under the soft
    ``truth`` (NaN entries ignored); ties go to the candidate closest to 0.5; a class with no expected positive
    keeps :data:`~mlml.evaluation.FALLBACK_THRESHOLD`."""
    candidates = threshold_grid(grid)
    known = ~np.isnan(truth)
    t = np.where(known, truth, 0.0)
    f1 = f1_curves(scores, t, np.where(known, 1.0 - t, 0.0), candidates)
    return _best_thresholds(f1, candidates)


def shared_threshold(probabilities: np.ndarray, truth: np.ndarray, *, grid: int | ArrayLike = 99) -> float:
    """One threshold for every class maximising the expected micro-F1 under the soft ``truth``."""
    candidates = threshold_grid(grid)
    known = ~np.isnan(truth)
    t = np.where(known, truth, 0.0).ravel()[:, None]
    f = np.where(known, 1.0 - np.nan_to_num(truth), 0.0).ravel()[:, None]
    f1 = f1_curves(probabilities.ravel()[:, None], t, f, candidates)
    return float(_best_thresholds(f1, candidates)[0])


def fit_platt(scores: np.ndarray, truth: np.ndarray, *, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Per-class Platt parameters ``(a_c, b_c)`` of ``σ(a_c logit s + b_c)`` against the soft ``truth``.

    Minimises each class's cross-entropy to ``truth`` (NaN entries ignored) plus ``_SHRINK`` pseudo-observations'
    worth of a quadratic pull towards the shared ``(a, b)`` fitted on every entry, by Newton's method (two
    parameters per class, all classes at once); ``a_c`` is kept positive so that the calibration is increasing.
    """
    z = _logit(scores)
    known = ~np.isnan(truth)
    t = np.where(known, truth, 0.0)
    w = known.astype(np.float64)
    a_g, b_g = _newton(z.reshape(-1, 1), t.reshape(-1, 1), w.reshape(-1, 1), np.ones(1), np.zeros(1),
                       np.ones(1), np.zeros(1), 0.0, iterations)
    a, b = _newton(z, t, w, np.full(z.shape[1], a_g[0]), np.full(z.shape[1], b_g[0]), a_g, b_g, _SHRINK, iterations)
    return a, b


def _newton(z: np.ndarray, t: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, a0: np.ndarray,
            b0: np.ndarray, shrink: float, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise weighted logistic regression of ``t`` on ``z`` with an L2 pull (``shrink``) to ``(a0, b0)``."""
    a, b = a.astype(np.float64).copy(), b.astype(np.float64).copy()
    for _ in range(iterations):  # Newton converges in a few steps; stop once no parameter moves
        p = _sigmoid(a * z + b)
        r = w * (p - t)
        h = w * p * (1.0 - p) + 1e-9
        ga, gb = (r * z).sum(0) + shrink * (a - a0), r.sum(0) + shrink * (b - b0)
        haa, hab, hbb = (h * z * z).sum(0) + shrink + 1e-9, (h * z).sum(0), h.sum(0) + shrink + 1e-9
        det = haa * hbb - hab * hab
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = np.maximum(a - da, 1e-3), b - db
        if max(np.abs(da).max(), np.abs(db).max()) < 1e-8:
            break
    return a, b


def _best_thresholds(f1: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    best = f1.max(axis=1, keepdims=True)
    distance = np.where(np.isclose(f1, best, rtol=0, atol=1e-12), np.abs(candidates - 0.5), np.inf)
    thresholds = candidates[np.argmin(distance, axis=1)]
    thresholds[best[:, 0] <= 0] = FALLBACK_THRESHOLD
    return thresholds


def _logit(p: ArrayLike) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: ArrayLike) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
