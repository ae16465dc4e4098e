"""The evidence that an observed zero is a missing positive, and its combination fitted on re-hidden positives.

Sources, each a probability for every entry ``(i, c)``, computed a block of rows at a time:

* ``prior`` -- the labels-only co-occurrence prior ``q̃ = (1 − ε)(1 − ω̄^prior) + ε π_c`` (a registered labels-only
  estimator, default ``"pairwise-noisy-or"``; ``π_c = (n_c + 1)/(n_known_c + 2)`` the observed class rate);
* ``vote`` -- the smoothed vote ``g`` of the ``k`` nearest rows in feature space (:mod:`mlml.weights.neighbors`,
  the neighbours found once by :mod:`mlml.neighbours`);
* ``model`` -- a model's probabilities ``p = P(s = 1 | x)``: out-of-fold ones (:func:`out_of_fold_probabilities`:
  a row's probabilities come from a model that never saw the row) or a saved model's.

**Combination fitted on re-hidden positives** (:func:`fit_combination`). The observed positives are the only
labels known to be right, so a further share ``ρ`` of them is hidden (``hide_positives``, default the uniform
scheme: the per-sample scheme never hides the only positive of a row, so on data sets of about one label per row
it hides almost nothing; the uniform re-hiding keeps each row's last observed positive where enough positives are
left to re-hide, :func:`_rehide`; ``ρ`` defaults to 0.5 here, and :func:`mlml.suggest.suggest` passes the data's own
estimated missing share, :func:`missing_rehide_share`); the prior and the vote are recomputed from
the re-hidden labels (the neighbours and out-of-fold probabilities do not depend on a row's own labels). On the
zeros of the re-hidden matrix (a sample of at most ``max_entries``: every re-hidden positive and a uniform share of
the other zeros), a logistic regression of the target (1 for a re-hidden positive) on the sources' logits gives
the weights and the intercept (corrected by the log of the sampling rate):

    q = σ(b + Σ_s w_s logit z_s),    z = (prior, vote, model, π_c)  (the sources present).

So each source is weighted by how well it ranks positives that are known to be missing back, rather than added
in logit space with unit weights (the Bayes rule of ``method="knn"``). Where rows carry one observed label, no
copy loses positives without emptying rows; the sources that do not read a row's own labels (the vote, the model)
are then weighed on the observed labels themselves, observed positives against observed zeros, and the prior and
the class rate are left out (:func:`_fitting_problem`).

**What q means, and its limits.** ``q`` is calibrated on the re-hidden problem: the probability that a zero of
the re-hidden matrix is a re-hidden positive. The original missing positives are counted there as negatives, and
the re-hidden rows keep fewer observed labels than the original ones, so ``q`` under-states the probability
of a missing positive where the missing share is large; :mod:`mlml.suggest_calibration` shifts it (by default in
``suggest``) so that the scores of the observed zeros sum to the estimated number of missing positives
(measured: ``benchmarks/bench_suggest.py --calibration``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_fraction, check_option, check_positive_int, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, positives_per_sample
from mlml.weights import ESTIMATORS
from mlml.weights.neighbors import class_rate, label_indicators, logit, neighbour_vote, sigmoid, smoothed_prior

SOURCES: tuple[str, ...] = ("prior", "vote", "model", "rate")
#: Fewer re-hidden positives than this cannot weigh the sources.
MIN_REHIDDEN = 10
REHIDE_SCHEMES: tuple[str, ...] = ("per-sample", "uniform")
#: Bounds of the share of observed positives re-hidden by ``suggest``'s ``method="auto"``
#: (:func:`missing_rehide_share`).
REHIDE_SHARES = (0.05, 0.75)
logger = logging.getLogger("mlml.suggest")


class TooFewPositives(MLMLError):
    """Too few observed positives to hide again and learn the weights of the sources from."""


@dataclass
class Evidence:
    """The fitted sources of a label matrix (see the module docstring); :meth:`block` gives rows' values.

    Attributes:
        observed: the labels, dense int8 or CSR.
        rate: ``(n_labels,)`` class rates ``π``.
        prior_estimator: the fitted labels-only estimator.
        prior_smoothing: ``ε``.
        neighbours: int ``(n_samples, k)`` leave-one-out neighbours, or None.
        vote_smoothing: ``α`` of the vote.
        probabilities: ``(n_samples, n_labels)`` model probabilities, or None.
        prior: the registered name of the prior estimator.
    """

    observed: LabelMatrix
    rate: np.ndarray
    prior_estimator: Any
    prior_smoothing: float
    neighbours: np.ndarray | None = None
    vote_smoothing: float = 1.0
    probabilities: np.ndarray | None = None
    prior: str = "pairwise-noisy-or"

    def __post_init__(self) -> None:
        self._indicators = label_indicators(self.observed) if self.neighbours is not None else None

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources present, in the order of ``SOURCES``."""
        return tuple(s for s in SOURCES if not (s == "vote" and self.neighbours is None)
                     and not (s == "model" and self.probabilities is None))

    def block(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """``labels`` (dense int8) and each source's ``(len(rows), n_labels)`` values for ``rows``."""
        labels = self.observed[rows]
        labels = labels.toarray() if sp.issparse(labels) else np.asarray(labels)
        labels = labels.astype(np.int8, copy=False)
        _, neg = self.prior_estimator.transform(labels)
        out = {"labels": labels, "prior": smoothed_prior(neg, self.rate, self.prior_smoothing)}
        if self.neighbours is not None:
            out["vote"] = neighbour_vote(self.neighbours[rows], self._indicators, self.rate, self.vote_smoothing)
        if self.probabilities is not None:
            out["model"] = np.asarray(self.probabilities[rows], dtype=np.float64)
        out["rate"] = np.broadcast_to(self.rate, labels.shape)
        return out


def build_evidence(
    observed: LabelMatrix,
    *,
    prior: str = "pairwise-noisy-or",
    prior_smoothing: float = 0.1,
    neighbours: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    vote_smoothing: float = 1.0,
) -> Evidence:
    """Fit the labels-only prior on ``observed`` and gather the other sources into an :class:`Evidence`."""
    estimator = ESTIMATORS.create(prior).fit(observed)
    return Evidence(observed, class_rate(observed), estimator, prior_smoothing, neighbours, vote_smoothing,
                    probabilities, prior)


@dataclass(frozen=True)
class Combination:
    """``q = σ(b + Σ_s w_s logit z_s)`` over ``sources`` (see the module docstring).

    Attributes:
        sources: the sources combined, in the order of ``weights``.
        weights: ``w_s`` (the slope of the calibration included); intercept: ``b``.
        rehidden: ``R``, the positives the weights were fitted on: re-hidden ones, or the observed ones where
            ``on_observed`` (:func:`fit_combination`, rows of one observed label).
        on_observed: whether the weights were fitted on the observed labels rather than on a re-hidden copy.
    """

    sources: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    rehidden: int = 0
    on_observed: bool = False

    def logits(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """``b + Σ_s w_s logit z_s`` of a block's sources."""
        out = np.full(values["labels"].shape, self.intercept)
        for name, weight in zip(self.sources, self.weights):
            out += weight * logit(values[name])
        return out

    def score(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """``q`` for a block's sources."""
        return sigmoid(self.logits(values))

    def describe(self) -> str:
        """One line: the weight of each source."""
        parts = ", ".join(f"{s} {w:+.2f}" for s, w in zip(self.sources, self.weights))
        kind = "observed" if self.on_observed else "re-hidden"
        return f"logit q = {self.intercept:+.2f} + {parts} (logits; {self.rehidden} {kind} positives)"


def fit_combination(
    evidence: Evidence,
    *,
    share: float = 0.5,
    scheme: str = "uniform",
    max_entries: int = 300_000,
    block_rows: int = 4096,
    random_state: Any = 0,
) -> Combination:
    """Fit the weights of the sources on re-hidden positives and their scale (module docstring).

    Args:
        evidence: the sources of the observed labels (:func:`build_evidence`).
        share: ``ρ``, the share of observed positives hidden again, in (0, 1).
        scheme: ``"uniform"`` (each row's last observed positive kept, the others hidden at random so that the
            copy loses ``share`` of them all, where that still re-hides ``2 x MIN_REHIDDEN``; else each hidden with
            probability ``share``: :func:`_rehide`) or ``"per-sample"``
            (``round(share x`` the row's positives``)``: rows with one observed positive never lose it).
        max_entries: zeros of the re-hidden matrix in the fitting sample (all re-hidden positives kept).
        block_rows: rows per block.
        random_state: seed or Generator of the re-hiding and the sample.

    Raises:
        MLMLError: bad parameters, or fewer than 10 re-hidden positives (too few positives to learn from).
    """
    from sklearn.linear_model import LogisticRegression

    share = check_fraction(share, "share", "fit_combination")
    if not 0.0 < share < 1.0:
        raise MLMLError(f"The 'share' parameter of fit_combination must be in (0, 1). Got {share}.")
    check_option(scheme, "scheme", "fit_combination", REHIDE_SCHEMES)
    max_entries = check_positive_int(max_entries, "max_entries", "fit_combination")
    rng = check_random_state(random_state)
    rehidden, mask, rows_kept = _rehide(evidence.observed, share, scheme, rng)
    mask = sp.csr_matrix(mask) if sp.issparse(mask) else np.asarray(mask, dtype=bool)
    n_rehidden = int(mask.sum())
    if n_rehidden < MIN_REHIDDEN:
        raise TooFewPositives(
            f"Only {n_rehidden} observed positives could be hidden again (share {share}, scheme {scheme!r}): too "
            "few to weigh the evidence."
        )
    sources, fitted_on, target, n_targets, n_others = _fitting_problem(evidence, rehidden, mask, rows_kept)
    rate = min(1.0, max_entries / max(n_others, 1))
    xs, ys = [], []
    n_samples = rehidden.shape[0]
    for start in range(0, n_samples, block_rows):
        rows = np.arange(start, min(start + block_rows, n_samples))
        values = fitted_on.block(rows)
        candidate, positive = target(rows, values["labels"])
        keep = candidate & (positive | (rng.random(candidate.shape) < rate))
        xs.append(np.stack([logit(values[s][keep]) for s in sources], axis=1))
        ys.append(positive[keep])
    x, y = np.concatenate(xs), np.concatenate(ys)
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    intercept = float(fitted.intercept_[0]) + float(np.log(rate))  # undo the subsampling of the other zeros
    combination = Combination(sources, tuple(float(w) for w in fitted.coef_[0]), intercept, n_targets,
                              on_observed=fitted_on is evidence)
    logger.info("suggest: weights fitted on %d positives among %d entries: %s", n_targets, n_targets + n_others,
                combination.describe())
    return combination


def _fitting_problem(evidence: Evidence, rehidden: Any, mask: Any, rows_kept: bool) -> tuple[Any, ...]:
    """What :func:`fit_combination` fits on: ``(sources, evidence, target, n_targets, n_others)``, ``target(rows,
    labels)`` giving a block's candidate entries and which are positives. Normally the re-hidden copy's zeros, the
    re-hidden positives the targets. Where the re-hiding had to empty rows (:func:`_rehide`) and the vote or the
    model is there, the observed labels themselves: observed positives against observed zeros, weighing the
    sources that do not read a row's own labels (a leave-one-out vote, out-of-fold probabilities), the prior and
    the class rate left out. Emptied rows, which the real labels do not have, would teach the weights on 100-300
    re-hidden positives; the observed labels give every observed positive. On the development cells (scene,
    emotions, medical at r = 0.5, hiding seeds 1, 2) the weights came out within 0.2 of the re-hidden ones and the
    average precision rose by 0.0004 on average (benchmarks/README.md, "Seventh session")."""
    if not rows_kept and ("vote" in evidence.sources or "model" in evidence.sources):
        logger.info("suggest: too few rows with two observed labels to re-hide without emptying rows; the vote and "
                    "the model are weighed on the observed positives (the prior and the class rate left out)")
        sources = tuple(name for name in evidence.sources if name not in ("prior", "rate"))

        def observed_target(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (labels == 0) | (labels == POSITIVE), labels == POSITIVE

        n_positives = int(positives_per_sample(evidence.observed).sum())
        return sources, evidence, observed_target, n_positives, _count_zeros(evidence.observed)
    again = build_evidence(rehidden, prior=evidence.prior, prior_smoothing=evidence.prior_smoothing,
                           neighbours=evidence.neighbours, probabilities=evidence.probabilities,
                           vote_smoothing=evidence.vote_smoothing)

    def rehidden_target(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return labels == 0, mask[rows].toarray() if sp.issparse(mask) else mask[rows]

    n_rehidden = int(mask.sum())
    return evidence.sources, again, rehidden_target, n_rehidden, _count_zeros(rehidden) - n_rehidden


def _rehide(observed: LabelMatrix, share: float, scheme: str, rng: np.random.Generator) -> tuple[Any, Any, bool]:
    """The re-hidden copy of ``observed``, its mask, and whether every row kept a positive. The uniform scheme keeps
    each row's last observed positive, hiding each of the others with the probability that makes the copy lose
    ``share`` of all observed positives (:func:`_keep_one_probability`), where that still re-hides
    ``2 x MIN_REHIDDEN`` positives; else (rows of one observed label) it may empty rows, drawing what it drew
    before the rule, and :func:`fit_combination` then weighs the vote and the model on the observed labels, the
    prior and the class rate left out (:func:`_fitting_problem`), where one of them is there.

    Why: a row emptied by the re-hiding keeps no evidence for the prior, while the rows whose positives are really
    missing keep theirs (a data set's rows seldom lose every label: ``diagnose``'s floor counts those that did), so
    re-hidden positives in emptied rows under-weigh the prior. On the development cells (per-sample hiding r = 0.5,
    hiding seeds 1 and 2) this raised the average precision of the hidden positives on yeast from 0.652 / 0.599 to
    0.695 / 0.676 and on enron from 0.453 to 0.459 (benchmarks/README.md, "Sixth session: suggest --method auto
    keeps each row's last positive"). Where rows carry one observed label (scene, emotions, medical there) nothing
    can be re-hidden without emptying rows; the weights of the prior and the class rate are then learnt from
    emptied rows, whose prior is the class rate, and leaving both out raised the average precision on all five
    such cells (medical 0.352 to 0.425, scene 0.246 / 0.215 to 0.252 / 0.227, emotions 0.507 / 0.479 to 0.498 /
    0.491; the prior alone left out first: 0.402, 0.245 / 0.223, 0.495 / 0.460); the seventh session weighs the
    two that remain on the observed labels instead of the emptied copy."""
    from mlml.simulate import hide_positives

    per_row = positives_per_sample(observed)
    if scheme == "uniform":
        state = rng.bit_generator.state
        p = _keep_one_probability(per_row, share)
        rehidden, mask = hide_positives(observed, p, scheme=scheme, keep_at_least_one=True, random_state=rng)
        if int(mask.sum()) >= 2 * MIN_REHIDDEN:
            return rehidden, mask, True
        rng.bit_generator.state = state
    rehidden, mask = hide_positives(observed, share, scheme=scheme, random_state=rng)
    return rehidden, mask, bool((positives_per_sample(rehidden)[per_row > 0] > 0).all())


def _keep_one_probability(per_row: np.ndarray, share: float) -> float:
    """The probability ``p`` of hiding each observed positive, a row's last one kept, for which the expected loss
    ``Σ_rows (n p − p^n)`` (``n`` the row's observed positives, ``per_row``) is ``share`` of them all; at most
    ``max(share, REHIDE_SHARES[1])`` (where the rows' other positives are too few for ``share``)."""
    from scipy.optimize import brentq

    n = per_row[per_row > 0].astype(np.float64)
    target, high = share * n.sum(), max(share, REHIDE_SHARES[1])

    def excess(p: float) -> float:
        return float((n * p - p**n).sum() - target)

    return high if n.size == 0 or excess(high) <= 0 else float(brentq(excess, share, high))


def out_of_fold_probabilities(
    observed: LabelMatrix,
    features: Any,
    *,
    n_folds: int = 4,
    random_state: Any = 0,
    progress: bool = False,
) -> np.ndarray:
    """``(n_samples, n_labels)`` out-of-fold probabilities of one-vs-rest logistic regressions (the usual recipe
    of label-issue finding, e.g. cleanlab's ``get_cross_validated_multilabel_pred_probs``): each row's
    probabilities come from models fitted on the other folds, observed zeros taken as negatives, unknown (-1)
    entries left out of their label's fit. Dense features are standardised on the training folds; a label
    with one value in a training fold gets its rate there.

    Cost: ``n_folds x n_labels`` fits on ``(1 − 1/n_folds) n_samples`` rows (seconds for the MULAN sets).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    n_folds = check_positive_int(n_folds, "n_folds", "out_of_fold_probabilities", minimum=2)
    n_samples, n_labels = observed.shape
    if features is None or features.shape[0] != n_samples:
        raise MLMLError("out_of_fold_probabilities needs 'features' with one row per label row.")
    if n_folds > n_samples:
        raise MLMLError(f"The 'n_folds' parameter of out_of_fold_probabilities must be <= {n_samples}. Got {n_folds}.")
    dense = observed.toarray() if sp.issparse(observed) else np.asarray(observed)
    x = sp.csr_matrix(features, dtype=np.float64) if sp.issparse(features) else np.asarray(features, np.float64)
    seed = int(check_random_state(random_state).integers(2**31 - 1))
    out = np.empty((n_samples, n_labels), dtype=np.float64)
    folds = list(KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(n_samples)))
    steps = [(f, c) for f in range(n_folds) for c in range(n_labels)]
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="out-of-fold model", unit="fit", leave=False)
    scaled = None
    for f, c in steps:
        train, test = folds[f]
        if c == 0:
            scaler = None if sp.issparse(x) else StandardScaler().fit(x[train])
            scaled = (x[train], x[test]) if scaler is None else (scaler.transform(x[train]), scaler.transform(x[test]))
        known = dense[train, c] != UNKNOWN
        target = dense[train, c][known] == POSITIVE
        if target.all() or not target.any():
            out[test, c] = (target.sum() + 1.0) / (target.size + 2.0)
            continue
        clf = LogisticRegression(C=1.0, max_iter=500).fit(scaled[0][known], target)
        out[test, c] = clf.predict_proba(scaled[1])[:, 1]
    return out


def _count_zeros(observed: LabelMatrix) -> int:
    if sp.issparse(observed):
        csr = sp.csr_matrix(observed)
        return int(observed.shape[0] * observed.shape[1] - csr.nnz + (csr.data == 0).sum())
    return int((np.asarray(observed) == 0).sum())


def missing_rehide_share(observed: LabelMatrix, missing_share: float | None) -> float:
    """The share of observed positives that ``method="auto"`` hides again: the data's own missing share ``m``,
    within ``REHIDE_SHARES``, and at least enough for ``2 x MIN_REHIDDEN`` re-hidden positives; 0.5 where ``m``
    is unknown (NaN or None).

    Why: the combination is fitted on a re-hidden copy of the labels, which should lose what the real labels
    lost. On the development cells (five MULAN sets, per-sample hiding r = 0.5, hiding seeds 1 and 2) a small
    share suited the sets of about one label per row (scene: m = 0.07) and a large one yeast (m = 0.5); re-hiding
    ``diagnose``'s estimate rather than 0.5 raised the average precision of the hidden positives in 5 of 8 cells
    (mean +0.003: a small gain; benchmarks/README.md, "suggest --method auto, third round").
    """
    low, high = REHIDE_SHARES
    if missing_share is None or not np.isfinite(missing_share):
        logger.info("suggest: no missing share to re-hide; re-hiding half of the observed positives")
        return 0.5
    positives = int((observed.data == POSITIVE).sum()) if sp.issparse(observed) else int(
        (np.asarray(observed) == POSITIVE).sum())
    floor = min(0.5, 2.0 * MIN_REHIDDEN / max(positives, 1))
    share = float(np.clip(max(missing_share, floor), low, high))
    logger.info("suggest: re-hiding %.3f of the observed positives (missing share %.3f)", share, missing_share)
    return share
