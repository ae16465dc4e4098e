"""``mlml diagnose``: how many positives are missing from the observed labels, overall and per label.

The estimated quantity. With ``y`` the complete and ``s`` the observed labels of one label column (``s = 1`` an
observed positive, ``s = 0`` a suspect zero), the **label frequency** is ``c = P(s = 1 | y = 1)`` (Elkan & Noto
2008; Bekker & Davis 2018) and the **missing share** is ``1 − c``: the share of the true positives that the labels
do not show. Overall, the missing share is ``Σ_j h_j / Σ_j (n_j + h_j)`` with ``n_j`` the observed and ``h_j`` the
missing positives of label ``j``.

How it is estimated (positive-unlabelled class-prior estimation, one label at a time):

1. **Scores.** For every label ``j``, a classifier of ``s_j`` (observed positive against suspect zero) gives each
   row a score ``g_j(x)``, out of fold (``n_folds`` folds of rows: a row is scored by a model that did not see
   it). The classifier is ridge regression, all labels at once, on the evidence ``x``: the features (dense
   features standardised; sparse or wide ones reduced to ``MAX_FEATURE_DIMS`` components by a truncated SVD)
   and/or the row's other observed labels, these with **non-negative** coefficients and label ``j``'s own column
   left out (:func:`_nonnegative_ridge` says why: hiding coupled within a row makes co-occurring labels look
   exclusive, and negative evidence then fakes a pure top bin). By default, where features are given, all three
   (features, labels, both; same folds), and each label keeps the smallest of the three estimates of step 2: each
   is an upper bound, so the smallest is the tightest (in each bootstrap replicate too).
2. **Mixture proportion.** Under SCAR (a positive's chance to be observed does not depend on ``x``), the scores of
   the suspect zeros are a mixture ``U = α P + (1 − α) N`` of the positives' score distribution ``P`` (seen on the
   observed positives) and the negatives' ``N``; ``α`` is the share of missing positives among the suspect zeros.
   With ``q_p(t)`` and ``q_u(t)`` the shares of observed positives and of suspect zeros scoring at least ``t``,
   every ``t`` gives the upper bound ``α ≤ q_u(t) / q_p(t)``; **best bin estimation** (BBE; Garg et al., "Mixture
   Proportion Estimation and PU Learning: A Modern Approach", NeurIPS 2021, Algorithm 1; authors' code
   acmi-lab/PU_learning, ``estimator.py``, ``BBE_estimator``) picks the ``t`` that minimises that ratio plus its
   confidence term ``(1 + γ)(√(log(1/δ) / 2 n_u) + √(log(1/δ) / 2 n_p)) / q_p(t)`` (``log(1/δ)`` as in the
   authors' ``DKW_bound``; the paper writes ``log(4/δ)``) and returns
   ``α̂ = q_u(t̂) / q_p(t̂)``. It needs a "top bin" of nearly pure positives (the anchor-set / irreducibility
   assumption that TIcE, Bekker & Davis 2018, and KM2, Ramaswamy et al. 2016, also make); where the evidence
   does not single out positives, ``α̂`` is too high: **each label's estimate is an upper bound** on its missing
   share (up to noise). Then ``h_j = α̂_j · #suspect zeros_j`` and ``1 − c_j = h_j / (n_j + h_j)``. Scores are binned at
   ``N_BINS`` quantiles, so the bootstrap re-counts bins instead of re-sorting.
3. **Overall.** The overall estimate assumes one missing rate shared by the labels (as an annotator who skips
   labels at random, or the per-sample and uniform hiding schemes, give): each label's estimate bounds that rate
   from above, so the overall estimate is a low quantile (``quantile``, weighted by observed positives) of the
   per-label estimates of the labels with at least ``min_positives`` observed positives.
4. **Interval.** A bootstrap over rows (``n_bootstrap`` Poisson-weighted replicates of the binned counts, the
   scores held fixed), read as :func:`mlml.diagnose_bbe._bootstrap_interval` says.
5. **The floor of empty rows** (:mod:`mlml.diagnose_floor`). Where every sample carries at least one true label,
   the rows without an observed positive bound the overall share from below; the estimate is raised to that
   floor, or is the floor where steps 1-3 give none (``every_row_positive=False`` drops it).

The two estimators (``ESTIMATORS``) differ in BBE's ``δ``, the quantile and the interval. **``bbe-tightest``**
(default): ``δ = 0.7`` (a smaller confidence term: purer, smaller top bins, less of the upper-bound bias, more
noise), the 0.05 quantile (near the smallest label) and the union of the percentile and the reflected bootstrap
intervals (the estimate is a minimum, whose bootstrap is not consistent). **``bbe-quantile``** (the first
version): the paper's ``δ = 0.1``, the 0.1 quantile, the percentile interval. What cannot be done: under SCAR
alone the missing share is not identified -- any ``c'`` with ``max_x P(s = 1 | x) ≤ c' ≤ 1`` explains the observed
labels equally well (irreducibility: Blanchard, Lee & Scott, JMLR 2010) -- so without a nearly pure region (an
anchor) every estimator is an upper bound, and re-hiding observed positives does not help: with the top-bin
contamination ``κ = q_N(t) / q_P(t)``, BBE counts ``h + κ N`` hidden positives, and hiding a further share ``s`` of
the observed ones moves the truth and the estimate alike (``h + sO + κN``), so the curve ``e(s)`` cannot tell
``κN`` from ``h``.

Why these (measured by ``benchmarks/bench_diagnose.py``, figures and the rejected variants in
benchmarks/README.md): ``bbe-tightest`` against ``bbe-quantile`` on 36 cells (the five MULAN sets and
openclipart, both schemes, three ratios, three seeds): mean |error| 0.053 against 0.063, cells within 0.05 17
against 16, interval coverage 85 % against 57 %. Its ``δ`` and quantile were chosen on those cells (a grid of ``δ``
0.1-0.9 and quantiles 0-0.2); chosen on five sets and measured on the sixth, the point estimate is no better than
the first version's (mean |error| 0.065) and the coverage stays at 81 %: the gain is the honest interval. The
naive sum of co-occurrence posteriors ``1 − ω̄`` (``naive_missing_share``, a baseline), Elkan & Noto's e1,
per-label counts summed instead of the shared-rate quantile, re-hiding extrapolation (proportional model), a
Gaussian negative component (a semi-parametric mixture, identifiable without an anchor) and scores averaged over
repeated fold splits were each as far or further from the truth; keeping each label's smallest of the three
estimates (features, labels, both) was closer than any one kind of evidence, and labels with unconstrained
coefficients gave estimates near 0 under per-sample hiding.

Labels with no observed positive cannot be estimated at all (nothing says what their positives look like); labels
with fewer than ``min_positives`` get a per-label estimate that is reported but not used for the overall figure.

Where the steps live: the scores of step 1 in :mod:`mlml.diagnose_scores`, the BBE estimate of step 2 in
:mod:`mlml.diagnose_bbe`, this module the estimate and its record (steps 3 and 4), and the terminal text in
:mod:`mlml.diagnose_text`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from mlml._threads import blas_threads
from mlml._validation import RandomState, check_fraction, check_option, check_positive_int, check_random_state
from mlml.diagnose_bbe import _bootstrap_interval, _missing_shares, _score_bins_columns, _weighted_quantile
from mlml.diagnose_floor import apply_floor, empty_row_floor
from mlml.diagnose_scores import blas_threads_for, out_of_fold_scores
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, LabelMatrix, check_labels, to_dense

Evidence = Literal["auto", "features", "labels", "both"]
EVIDENCE: tuple[str, ...] = ("auto", "features", "labels", "both")
#: The estimators of the overall share: BBE's ``delta``, the quantile of the per-label estimates, the interval
#: (module docstring; ``bbe-tightest`` the default since the second session, ``bbe-quantile`` the first one's).
ESTIMATORS: dict[str, tuple[float, float, str]] = {
    "bbe-tightest": (0.7, 0.05, "union"),
    "bbe-quantile": (0.1, 0.1, "percentile"),
}
DEFAULT_ESTIMATOR = "bbe-tightest"
#: Bootstrap replicates of ``mlml diagnose`` and of ``data info``'s line (the same numbers in both).
DEFAULT_BOOTSTRAP = 200
#: Labels beyond this many cannot serve as each other's evidence (the Gram matrix is ``(C, C)``).
MAX_LABEL_EVIDENCE = 4096
#: Beyond this many label entries (rows x labels) diagnose refuses (its scores are a dense ``(n, C)`` table).
MAX_ENTRIES = 1 << 25
#: Bootstrap weights drawn at once (rows x replicates; 128 MB in float64).
BOOTSTRAP_BLOCK_ENTRIES = 1 << 24


@dataclass(frozen=True)
class LabelDiagnosis:
    """One label's estimate. ``missing_share``, ``low`` and ``high`` are NaN where nothing could be estimated
    (no observed positive); ``used`` says whether the label entered the overall estimate."""

    name: str
    observed_positives: int
    suspect_zeros: int
    missing_share: float
    low: float
    high: float
    used: bool


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found. ``missing_share`` is NaN when no label has ``min_positives`` observed
    positives. ``to_dict()`` is the JSON that ``mlml diagnose --out`` writes."""

    missing_share: float
    low: float
    high: float
    per_label: list[LabelDiagnosis]
    evidence: str
    n_samples: int
    n_labels: int
    observed_positives: int
    empty_samples: int
    min_positives: int
    confidence: float
    method: str
    notes: list[str] = field(default_factory=list)
    estimator: str = DEFAULT_ESTIMATOR
    #: the median of the used labels' own estimates (weighted by observed positives): where labels are missed at
    #: different rates, the overall share can be far above ``missing_share`` (which assumes one shared rate)
    per_label_median: float = float("nan")
    #: the floor of step 5 (module docstring): the share is at least this if every sample has a positive; NaN
    #: where not assumed (``every_row_positive=False``)
    floor: float = float("nan")

    @property
    def no_positive_labels(self) -> list[str]:
        return [label.name for label in self.per_label if label.observed_positives == 0]

    @property
    def few_positive_labels(self) -> list[str]:
        return [label.name for label in self.per_label if 0 < label.observed_positives < self.min_positives]

    @property
    def estimated_missing_positives(self) -> float:
        """The overall missing share as a count: ``n · m / (1 − m)`` with ``n`` the observed positives."""
        share = self.missing_share
        return float("nan") if not math.isfinite(share) or share >= 1 else self.observed_positives * share / (1 - share)

    def advice(self) -> list[str]:
        """What the estimate means for training, in a few sentences (:func:`mlml.diagnose_text.advice`)."""
        from mlml.diagnose_text import advice

        return advice(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing_share": {"estimate": _json_float(self.missing_share), "low": _json_float(self.low),
                              "high": _json_float(self.high), "confidence": self.confidence,
                              "floor": _json_float(self.floor)},
            "estimated_missing_positives": _json_float(self.estimated_missing_positives),
            "per_label_median": _json_float(self.per_label_median),
            "per_label": [{key: _json_float(value) if isinstance(value, float) else value
                           for key, value in asdict(label).items()} for label in self.per_label],
            "labels_without_positives": self.no_positive_labels,
            "labels_with_few_positives": self.few_positive_labels,
            "evidence": self.evidence,
            "estimator": self.estimator,
            "method": self.method,
            "n_samples": self.n_samples,
            "n_labels": self.n_labels,
            "observed_positives": self.observed_positives,
            "empty_samples": self.empty_samples,
            "min_positives": self.min_positives,
            "advice": self.advice(),
            "notes": list(self.notes),
        }


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def diagnose(
    observed: LabelMatrix,
    *,
    features: np.ndarray | sp.spmatrix | None = None,
    label_names: list[str] | None = None,
    evidence: Evidence = "auto",
    estimator: str = DEFAULT_ESTIMATOR,
    n_folds: int = 3,
    min_positives: int = 10,
    quantile: float | None = None,
    delta: float | None = None,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    random_state: RandomState = 0,
    every_row_positive: bool = True,
) -> Diagnosis:
    """Estimate the share of missing positives of ``observed``, overall and per label (module docstring).

    Args:
        observed: ``(n_samples, n_labels)`` observed labels, dense or CSR, values in ``{1, 0, 2, -1}``; only the
            suspect zeros (``0``) can hide a missing positive, verified negatives (``2``) and unannotated
            entries (``-1``) are left out of each label's counts.
        features: ``(n_samples, n_features)`` features (dense or sparse), or None.
        label_names: one name a label (default ``label0``, ``label1``, ...).

        evidence: what the classifier of step 1 reads: ``"features"``, ``"labels"`` (the other observed labels,
            non-negative coefficients), ``"both"``, or ``"auto"``: where features are given, each of the three, keeping
            per label the smallest estimate (each is an upper bound); else the labels.
        estimator: ``"bbe-tightest"`` (default) or ``"bbe-quantile"`` (the first version): their BBE ``delta``,
            quantile and interval (``ESTIMATORS``; module docstring).
        n_folds: folds of rows for the out-of-fold scores (>= 2).
        min_positives: labels with fewer observed positives are named and left out of the overall estimate.
        quantile: the low quantile of the per-label estimates taken as the overall estimate, in (0, 1] (None: the
            estimator's).
        delta: BBE's confidence parameter in (0, 1) (None: the estimator's); larger picks purer, smaller bins.
        n_bootstrap: bootstrap replicates for the intervals (0: no interval, low = high = the estimate).
        confidence: the interval's level, in (0, 1).
        random_state: seed or Generator (folds, SVD, bootstrap).
        every_row_positive: every sample has at least one true positive label: rows without an observed positive
            then bound the overall share from below (step 5 of the module docstring). False where samples with
            no label at all are real.

    Returns:
        A :class:`Diagnosis`.

    Example:
        >>> import numpy as np
        >>> from mlml.simulate import hide_positives
        >>> rng = np.random.default_rng(0)
        >>> Y = (rng.random((2000, 6)) < 0.3).astype(np.int8)
        >>> Y[:, 1] = Y[:, 0]  # label 1 always comes with label 0: an anchor for both
        >>> observed, _ = hide_positives(Y, 0.4, scheme="uniform", random_state=0)
        >>> round(diagnose(observed, evidence="labels", n_bootstrap=0).missing_share, 1)
        0.4
    """
    owner = "diagnose"
    observed = check_labels(observed, name="observed")
    n, n_labels = observed.shape
    evidence = check_option(evidence, "evidence", owner, EVIDENCE)  # type: ignore[assignment]
    estimator = check_option(estimator, "estimator", owner, tuple(ESTIMATORS))
    default_delta, default_quantile, interval = ESTIMATORS[estimator]
    quantile = default_quantile if quantile is None else quantile
    delta = default_delta if delta is None else delta
    if not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise MLMLError(f"The 'delta' parameter of {owner} must be a float in (0, 1). Got {delta!r} instead.")
    n_folds = check_positive_int(n_folds, "n_folds", owner, minimum=2)
    min_positives = check_positive_int(min_positives, "min_positives", owner)
    quantile = check_fraction(quantile, "quantile", owner)
    if quantile == 0:
        raise MLMLError(f"The 'quantile' parameter of {owner} must be a float in (0, 1]. Got 0 instead.")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", owner, minimum=0)
    confidence = check_fraction(confidence, "confidence", owner)
    if not 0 < confidence < 1:
        raise MLMLError(f"The 'confidence' parameter of {owner} must be a float in (0, 1). Got {confidence!r} instead.")
    if label_names is None:
        label_names = [f"label{j}" for j in range(n_labels)]
    if len(label_names) != n_labels:
        raise MLMLError(f"label_names has {len(label_names)} names for {n_labels} labels.")
    if features is not None and features.shape[0] != n:
        raise MLMLError(f"features has {features.shape[0]} rows; observed has {n}.")
    if n * n_labels > MAX_ENTRIES:
        raise MLMLError(f"diagnose scores every (sample, label) entry: {n:,} x {n_labels:,} is more than "
                        f"{MAX_ENTRIES:,}; keep the frequent labels (--min-label-frequency) or a sample of rows.")
    if n < 2 * n_folds:
        raise MLMLError(f"diagnose needs at least {2 * n_folds} samples for {n_folds} folds; got {n}.")
    kinds = _evidence_kinds(evidence, features is not None, n_labels)
    rng = check_random_state(random_state)
    dense = to_dense(observed)
    positive = dense == POSITIVE
    suspect = dense == 0
    counts_pos = positive.sum(axis=0)
    score_seed = int(rng.integers(2**63 - 1))  # the same folds (and SVD) for every kind of evidence
    with blas_threads(blas_threads_for(n, n_labels, features, kinds)):
        shares, boot = _label_estimates(kinds, positive, suspect, features, n_folds=n_folds, delta=delta,
                                        n_bootstrap=n_bootstrap, score_seed=score_seed, rng=rng)
    used = counts_pos >= min_positives
    notes: list[str] = []
    if used.any():
        estimate = _weighted_quantile(shares[used], counts_pos[used], quantile)
        label_median = _weighted_quantile(shares[used], counts_pos[used], 0.5)
        replicates = np.array([_weighted_quantile(row[used], counts_pos[used], quantile) for row in boot])
        replicates = replicates[np.isfinite(replicates)]
    else:
        estimate, label_median, replicates = float("nan"), float("nan"), np.zeros(0)
        notes.append(f"no label has {min_positives} observed positives: the overall share cannot be estimated")
    low, high = _bootstrap_interval(float(estimate), replicates, confidence, interval)
    floor = empty_row_floor(dense) if every_row_positive else float("nan")
    estimate, low, high, notes = apply_floor(float(estimate), low, high, floor, dense, notes, min_positives)
    per_label = []
    for j in range(n_labels):
        lo, hi = _bootstrap_interval(float(shares[j]), boot[:, j], confidence, interval)
        per_label.append(LabelDiagnosis(str(label_names[j]), int(counts_pos[j]), int(suspect[:, j].sum()),
                                        float(shares[j]), lo, hi, bool(used[j])))
    described = " | ".join(_DESCRIBED[kind] for kind in kinds)
    if len(kinds) > 1:
        described = f"each of [{described}], the smallest estimate per label"
    evidence = "+".join(kinds) if len(kinds) > 1 else kinds[0]
    method = (f"{estimator}: BBE mixture-proportion estimate (delta {delta:g}) per label on out-of-fold ridge "
              f"scores from {described}; overall: the {quantile:g} quantile of the per-label estimates (labels "
              f"with >= {min_positives} observed positives, weighted by them); {n_bootstrap} bootstrap replicates "
              f"over rows, {interval} interval")
    if every_row_positive:
        method += ("; floor: the samples without an observed positive each miss one at least (if every sample "
                   "carries a label)")
    return Diagnosis(
        missing_share=float(estimate), low=low, high=high, per_label=per_label,
        evidence=evidence, n_samples=n, n_labels=n_labels, observed_positives=int(counts_pos.sum()),
        empty_samples=int((~positive.any(axis=1)).sum()), min_positives=min_positives, confidence=confidence,
        method=method, notes=notes, estimator=estimator, per_label_median=float(label_median), floor=floor,
    )


def _label_estimates(kinds: tuple[str, ...], positive: np.ndarray, suspect: np.ndarray,
                     features: np.ndarray | sp.spmatrix | None, *, n_folds: int, delta: float, n_bootstrap: int,
                     score_seed: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1, 2 and 4 of the module docstring: each label's missing share ``(n_labels,)`` and its bootstrap
    replicates ``(n_bootstrap, n_labels)``, the smallest over the kinds of evidence."""
    n, n_labels = positive.shape
    labels_with_positives = np.flatnonzero(positive.sum(axis=0))
    shares = np.full((len(kinds), n_labels), np.nan)
    boot = np.full((len(kinds), n_bootstrap, n_labels), np.nan)
    bins = np.zeros((len(kinds), n, n_labels), dtype=np.int16)  # score bins, 0 the top (N_BINS fits int16)
    evidence: dict = {}  # the features' standardised (or SVD-reduced) matrix, made once for every kind
    for k, kind in enumerate(kinds):
        scores = out_of_fold_scores(positive, None if kind == "labels" else features, with_labels=kind != "features",
                                    n_folds=n_folds, random_state=score_seed, evidence_cache=evidence)
        bins[k][:, labels_with_positives] = _score_bins_columns(scores, labels_with_positives)
        for j in labels_with_positives:
            shares[k, j] = _missing_shares(bins[k, :, j], positive[:, j], suspect[:, j], None, delta)[0]
    # bootstrap weights (n, replicates), rows contiguous (each label's bin counts are one sparse-times-dense
    # product), drawn a block of replicates at a time so that a block holds at most BOOTSTRAP_BLOCK_ENTRIES
    block = max(1, min(n_bootstrap, BOOTSTRAP_BLOCK_ENTRIES // n))
    for start in range(0, n_bootstrap, block):
        stop = min(n_bootstrap, start + block)
        weights = rng.poisson(1.0, size=(n, stop - start)).astype(np.float64)
        for k in range(len(kinds)):
            for j in labels_with_positives:
                boot[k, start:stop, j] = _missing_shares(bins[k, :, j], positive[:, j], suspect[:, j], weights,
                                                         delta)
    # every kind of evidence gives an upper bound: keep the tightest, per label (and per bootstrap replicate)
    return np.fmin.reduce(shares, axis=0), np.fmin.reduce(boot, axis=0)


_DESCRIBED = {"features": "the features", "labels": "the other labels (non-negative)",
              "both": "the features and the other labels (non-negative)"}


def _evidence_kinds(evidence: str, has_features: bool, n_labels: int) -> tuple[str, ...]:
    """The kinds of evidence ``diagnose`` scores with: ``auto`` is all three where features are given (labels
    beyond ``MAX_LABEL_EVIDENCE`` left out), else the labels."""
    labels_ok = n_labels <= MAX_LABEL_EVIDENCE
    if evidence == "auto":
        if has_features:
            return ("both", "features", "labels") if labels_ok else ("features",)
        evidence = "labels"
    if evidence in ("features", "both") and not has_features:
        raise MLMLError(f"evidence={evidence!r} needs features; pass features= or use evidence='labels'.")
    if evidence in ("labels", "both") and not labels_ok:
        raise MLMLError(f"evidence={evidence!r} reads the other labels through a ({n_labels}, {n_labels}) matrix; "
                        f"at most {MAX_LABEL_EVIDENCE} labels. Give features (evidence='features').")
    return (evidence,)


def naive_missing_share(observed: LabelMatrix, *, estimator: str = "pairwise-noisy-or") -> float:
    """The naive baseline: ``Σ (1 − ω̄)`` over the suspect zeros from a labels-only co-occurrence estimator,
    as a share of that sum plus the observed positives (kept to compare against; far off on some data)."""
    from mlml.weights import ESTIMATORS

    observed = check_labels(observed, name="observed")
    _, neg = ESTIMATORS.create(estimator).fit(observed).transform(observed)
    dense = to_dense(observed)
    missing = float((1.0 - neg)[dense == 0].sum())
    positives = float((dense == POSITIVE).sum())
    return missing / (missing + positives) if missing + positives > 0 else float("nan")


def advice(diagnosis: Diagnosis) -> list[str]:
    """Plain-language consequences of a :class:`Diagnosis` for training (:func:`mlml.diagnose_text.advice`)."""
    return diagnosis.advice()
