"""``mlml suggest``: rank the (sample, label) pairs most likely to be missing positives, with their evidence.

Every observed zero ``(i, c)`` gets a score ``q_ic``, the estimated probability that it is a missing positive,
from the sources of :mod:`mlml.evidence` -- the labels-only co-occurrence ``prior``, the ``vote`` of the nearest
rows in feature space, a ``model``'s probabilities:

* ``method="auto"`` (default) -- every source present, weighted by what ranks *re-hidden* positives back best
  (a further share of the observed positives hidden again -- by default the data's own missing share, given or
  estimated by :func:`mlml.diagnose.diagnose` (:func:`missing_rehide_share`) -- and a logistic regression of
  them on the sources' logits; :func:`mlml.evidence.fit_combination`);
* ``method="knn"`` -- Bayes' rule with unit weights: ``logit q = logit q̃ + [logit g − logit π] (+ [logit p −
  logit π])`` (the ``knn`` estimator's posterior, :mod:`mlml.weights.neighbors`);
* ``method="labels"`` -- the prior alone, ``q = q̃``.

By default (``calibration="missing-share"``) one constant is then added to every logit so that the scores of the
observed zeros sum to the number of missing positives that :func:`mlml.diagnose.diagnose` estimates (or that
``missing_share`` gives): :mod:`mlml.suggest_calibration`. The ranking is unchanged.

Model probabilities are best out of fold (:func:`mlml.evidence.out_of_fold_probabilities`), so that the model has
not learned the very zeros being ranked (:func:`mlml.suggest_model.model_probabilities` chooses them for a data
set). Rows are scored a block at a time and only the best entries are kept, so memory is that of the labels, the
features and the neighbour index: a million rows x 100 features x 100 labels peaked at 3.3 GB, the data included
(``benchmarks/bench_suggest.py --scale``). Neighbours: :mod:`mlml.neighbours` (exact up to 20,000 rows or 16
features, faiss's approximate HNSW index beyond when installed).

Each suggestion carries its evidence: the observed labels of the sample that co-occur most with the suggested
label (``p(c | l)`` from the pairwise statistics), the neighbour vote and the nearest neighbours that carry
the label, and the model probability. Typical use::

    rows = suggest(observed, features=X, label_names=names, ids=ids, top_k=100)
    write_suggestions_csv(rows, "suggestions.csv")
    print(format_table(rows, 20))
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_fraction, check_option, check_positive_int
from mlml.evidence import (  # noqa: F401 (REHIDE_SHARES, missing_rehide_share: public names here too)
    REHIDE_SCHEMES,
    REHIDE_SHARES,
    Combination,
    Evidence,
    TooFewPositives,
    build_evidence,
    fit_combination,
    missing_rehide_share,
)
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, check_labels
from mlml.suggest_calibration import CALIBRATIONS, calibrate, estimate_missing_share
from mlml.suggest_text import COLUMNS, format_table, write_suggestions_csv  # noqa: F401 (the public names)
from mlml.weights.base import is_labels_only
from mlml.weights.neighbors import NeighbourCooccurrence, logit, sigmoid
from mlml.weights.pairwise import cooccurrence_statistics, indicator

SuggestMethod = Literal["auto", "labels", "knn"]
METHODS: tuple[str, ...] = ("auto", "labels", "knn")
_N_EVIDENCE = 3
#: Label entries (rows x labels) scored per block.
BLOCK_ENTRIES = 1 << 20
logger = logging.getLogger("mlml.suggest")


class Scorer:
    """The fitted evidence of a label matrix and the rule that turns it into ``q`` (see the module docstring).

    Attributes:
        evidence: :class:`mlml.evidence.Evidence`.
        method: the method used (``"auto"``, ``"knn"`` or ``"labels"``).
        combination: the fitted :class:`mlml.evidence.Combination` (``method="auto"``), else None.
        shift: ``δ`` added to every logit by the calibration (:mod:`mlml.suggest_calibration`; 0: none).
    """

    def __init__(self, evidence: Evidence, method: str, combination: Combination | None) -> None:
        self.evidence, self.method, self.combination, self.shift = evidence, method, combination, 0.0

    def logits(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """The log-odds of a block's sources before the calibration's shift."""
        if self.combination is not None:
            return self.combination.logits(values)
        z = logit(values["prior"])
        for extra in ("vote", "model") if len(self.evidence.sources) > 2 else ():
            if extra in values:
                z = z + logit(values[extra]) - logit(values["rate"])
        return z

    def block(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The sources of ``rows`` and their ``score`` (``-inf`` where the entry is not an observed zero)."""
        values = self.evidence.block(rows)
        plain = self.combination is None and len(self.evidence.sources) <= 2 and not self.shift
        q = values["prior"] if plain else sigmoid(self.logits(values) + self.shift)
        values["score"] = np.where(values["labels"] == 0, q, -np.inf)
        return values

    def blocks(self, progress: bool = False) -> Any:
        """``(rows, values)`` for consecutive blocks of rows covering the matrix."""
        n_samples, n_labels = self.evidence.observed.shape
        step = max(1, BLOCK_ENTRIES // max(n_labels, 1))
        starts = range(0, n_samples, step)
        if progress and n_samples > step:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="scoring", unit="block", leave=False)
        for start in starts:
            rows = np.arange(start, min(start + step, n_samples))
            yield rows, self.block(rows)


def fit_scorer(
    observed: LabelMatrix,
    *,
    features: Any = None,
    probabilities: np.ndarray | None = None,
    method: SuggestMethod = "auto",
    prior: str = "pairwise-noisy-or",
    n_neighbors: int = 20,
    prior_smoothing: float = 0.1,
    algorithm: str = "auto",
    rehide_share: float | Literal["missing"] = "missing",
    rehide_scheme: str = "uniform",
    calibration: str = "missing-share",
    missing_share: float | None = None,
    random_state: Any = 0,
    progress: bool = False,
) -> Scorer:
    """Fit the evidence of ``observed`` (and, for ``method="auto"``, the combination; the calibration's shift);
    see :func:`suggest`."""
    check_option(method, "method", "suggest", METHODS)
    check_option(calibration, "calibration", "suggest", CALIBRATIONS)
    check_option(rehide_scheme, "rehide_scheme", "suggest", REHIDE_SCHEMES)
    prior_smoothing = check_fraction(prior_smoothing, "prior_smoothing", "suggest")
    if not (isinstance(rehide_share, str) and rehide_share == "missing"):
        rehide_share = check_fraction(rehide_share, "rehide_share", "suggest")
    if missing_share is not None and check_fraction(missing_share, "missing_share", "suggest") >= 1.0:
        raise MLMLError(f"The 'missing_share' parameter of suggest must be in [0, 1). Got {missing_share}.")
    observed = check_labels(observed, name="observed")
    if not is_labels_only(prior):
        raise MLMLError(
            f"The 'prior' parameter of suggest must name a labels-only estimator (e.g. 'pairwise-noisy-or', "
            f"'denoising-mlp'). Got {prior!r}."
        )
    if method == "knn" and features is None:
        raise MLMLError("suggest(method='knn') needs 'features' (n_samples, n_features).")
    probabilities = _checked_probabilities(probabilities, observed.shape)
    neighbours = None
    if features is not None and method != "labels":
        knn = NeighbourCooccurrence(prior=prior, n_neighbors=n_neighbors, prior_smoothing=prior_smoothing,
                                    algorithm=algorithm, progress=progress).fit(observed, features=features)
        neighbours = knn.index_.query(knn.n_neighbors_)
        evidence = Evidence(observed, knn.rate_, knn.prior_estimator_, prior_smoothing, neighbours,
                            float(knn.vote_smoothing), probabilities, prior)
    else:
        evidence = build_evidence(observed, prior=prior, prior_smoothing=prior_smoothing,
                                  probabilities=probabilities)
    combination, estimated = None, None
    if method == "auto":
        if rehide_share == "missing":
            if missing_share is None:
                estimated = estimate_missing_share(observed, features, random_state=random_state)
            rehide_share = missing_rehide_share(observed, estimated if missing_share is None else missing_share)
        try:
            combination = fit_combination(evidence, share=rehide_share, scheme=rehide_scheme,
                                          random_state=random_state)
        except TooFewPositives as error:
            method = "knn" if neighbours is not None else "labels"
            warnings.warn(f"suggest: {error} Scoring with method={method!r} (Bayes' rule, unit weights).",
                          stacklevel=3)
    scorer = Scorer(evidence, method, combination)
    if calibration == "missing-share":
        calibrate(scorer, features=features, missing_share=missing_share, estimated=estimated,
                  random_state=random_state)
    return scorer


def missing_scores(observed: LabelMatrix, **kwargs: Any) -> dict[str, Any]:
    """Score every entry of ``observed`` as a possible missing positive (see the module docstring); for data
    that fits in memory several times over (``(n_samples, n_labels)`` float64 arrays).

    Args:
        observed: ``(n_samples, n_labels)`` int8 labels (1 / 0 / 2 / -1), dense or CSR.
        **kwargs: the parameters of :func:`fit_scorer` (``features``, ``probabilities``, ``method``, ...).

    Returns:
        A dict with ``score`` (``(n, C)`` float64 ``q``; ``-inf`` on entries that are not observed zeros),
        ``prior`` (``(n, C)`` labels-only probability), ``vote`` (``(n, C)`` or None), ``neighbours`` (int
        ``(n, k)`` or None), ``model`` (``(n, C)`` or None), ``method`` and ``combination`` (the fitted weights of
        ``method="auto"``, else None) and ``shift`` (the calibration's ``δ``).
    """
    scorer = fit_scorer(observed, **kwargs)
    parts: dict[str, list[np.ndarray]] = {"score": [], "prior": [], "vote": [], "model": []}
    for _, values in scorer.blocks():
        for key in parts:
            if key in values:
                parts[key].append(values[key])
    out: dict[str, Any] = {k: np.concatenate(v) if v else None for k, v in parts.items()}
    out.update(neighbours=scorer.evidence.neighbours, method=scorer.method, combination=scorer.combination,
               shift=scorer.shift)
    return out


def suggest(
    observed: LabelMatrix,
    *,
    features: Any = None,
    label_names: list[str] | None = None,
    ids: list[str] | np.ndarray | None = None,
    top_k: int = 100,
    method: SuggestMethod = "auto",
    probabilities: np.ndarray | None = None,
    prior: str = "pairwise-noisy-or",
    n_neighbors: int = 20,
    prior_smoothing: float = 0.1,
    labels: list[str] | None = None,
    per_label_cap: int | None = None,
    min_score: float | None = None,
    algorithm: str = "auto",
    rehide_share: float | Literal["missing"] = "missing",
    rehide_scheme: str = "uniform",
    calibration: str = "missing-share",
    missing_share: float | None = None,
    random_state: Any = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """The ``top_k`` observed zeros most likely to be missing positives, best first, with their evidence.

    Args:
        observed: ``(n_samples, n_labels)`` int8 labels (1 / 0 / 2 / -1), dense or CSR; only zeros are ranked.
        features: ``(n_samples, n_features)`` dense or CSR: the neighbour vote (methods ``"auto"``, ``"knn"``).
        label_names: the ``n_labels`` label names (default ``"0"``, ``"1"``, ...).
        ids: the ``n_samples`` sample ids (default the row numbers).
        top_k: how many suggestions (fewer when fewer zeros qualify).
        method: ``"auto"``, ``"knn"`` or ``"labels"`` (module docstring).
        probabilities: optional ``(n_samples, n_labels)`` model probabilities in [0, 1], best out of fold.
        prior: the registered labels-only estimator giving the co-occurrence prior.
        n_neighbors: ``k`` of the vote.
        prior_smoothing: ``ε``: the prior is ``q̃ = (1 − ε)(1 − ω̄^prior) + ε π_c``.
        labels: suggest only these labels (names); None: all.
        per_label_cap: at most this many suggestions per label; None: no cap.
        min_score: suggest only entries with ``q >= min_score``; None: no floor.
        algorithm: the neighbour search (:mod:`mlml.neighbours`).
        rehide_share, rehide_scheme: the share of observed positives hidden again, and the scheme
            (``"uniform"`` or ``"per-sample"``), for ``method="auto"``; ``rehide_share="missing"`` (default): the
            data's own missing share (``missing_share``, else :func:`mlml.diagnose.diagnose`'s estimate), within
            ``REHIDE_SHARES`` (:func:`missing_rehide_share`).
        calibration: ``"missing-share"`` (default): one shift of every logit so that the scores of the observed
            zeros sum to the estimated number of missing positives (:mod:`mlml.suggest_calibration`; the ranking
            is unchanged); ``"none"``: the method's own scores (``auto``'s are fitted on re-hidden positives and
            under-state the probability).
        missing_share: the share of positives missing, when known; None: estimated by :func:`mlml.diagnose.diagnose`.
        random_state: seed of the re-hiding (and the calibration's row samples).
        progress: tqdm bars for the neighbour search and the scoring.

    Returns:
        One dict per suggestion with the keys of ``COLUMNS``: ``rank`` (1-based), ``id``, ``label``, ``score``
        (probability of a missing positive), ``prior`` (labels-only probability), ``neighbour_vote`` and
        ``model_probability`` (None when not used), ``co_occurring`` (up to 3 observed labels of the sample,
        ``"name (p(c|name))"``, joined by ``"; "``), ``neighbours`` (up to 3 ids of the nearest rows that carry
        the label, joined by ``"; "``).
    """
    check_positive_int(top_k, "top_k", "suggest")
    if per_label_cap is not None:
        check_positive_int(per_label_cap, "per_label_cap", "suggest")
    if min_score is not None:
        min_score = check_fraction(min_score, "min_score", "suggest")
    observed = check_labels(observed, name="observed")
    n_samples, n_labels = observed.shape
    names = [str(i) for i in range(n_labels)] if label_names is None else [str(x) for x in label_names]
    if len(names) != n_labels:
        raise MLMLError(f"'label_names' has {len(names)} names; 'observed' has {n_labels} labels.")
    row_ids = np.arange(n_samples).astype(str) if ids is None else np.asarray(ids).astype(str)
    if row_ids.shape != (n_samples,):
        raise MLMLError(f"'ids' has {row_ids.size} entries; 'observed' has {n_samples} rows.")
    allowed = _allowed_labels(labels, names)
    scorer = fit_scorer(
        observed, features=features, probabilities=probabilities, method=method, prior=prior,
        n_neighbors=n_neighbors, prior_smoothing=prior_smoothing, algorithm=algorithm, rehide_share=rehide_share,
        rehide_scheme=rehide_scheme, calibration=calibration, missing_share=missing_share,
        random_state=random_state, progress=progress,
    )
    best, best_score = np.empty(0, dtype=np.int64), np.empty(0)
    for rows, values in scorer.blocks(progress):
        score = values["score"]
        if allowed is not None:
            score = np.where(allowed, score, -np.inf)
        flat = score.ravel()
        keep = np.flatnonzero(np.isfinite(flat) if min_score is None else flat >= min_score)
        best, best_score = _best(np.concatenate([best, keep + rows[0] * n_labels]),
                                 np.concatenate([best_score, flat[keep]]), n_labels, top_k, per_label_cap)
    return _rows(scorer, best, best_score, names, row_ids)


def _best(entries: np.ndarray, scores: np.ndarray, n_labels: int, top_k: int, cap: int | None) -> tuple[
        np.ndarray, np.ndarray]:
    """The ``top_k`` best entries (score descending, ties by position) keeping at most ``cap`` per label. Applied
    to the best so far plus a new block, it gives the answer over all blocks (what falls out never comes back)."""
    if cap is None and entries.size > 4 * top_k:
        kth = -np.partition(-scores, top_k - 1)[top_k - 1]
        near = scores >= kth  # every entry tied with the k-th stays; ties are resolved below
        entries, scores = entries[near], scores[near]
    order = np.lexsort((entries, -scores))
    entries, scores = entries[order], scores[order]
    if cap is not None:
        label = entries % n_labels
        by_label = np.argsort(label, kind="stable")
        sorted_label = label[by_label]
        starts = np.flatnonzero(np.r_[True, sorted_label[1:] != sorted_label[:-1]])
        sizes = np.diff(np.r_[starts, label.size])
        rank = np.empty(label.size, dtype=np.int64)
        rank[by_label] = np.arange(label.size) - np.repeat(starts, sizes)
        entries, scores = entries[rank < cap], scores[rank < cap]
    return entries[:top_k], scores[:top_k]


def _rows(scorer: Scorer, best: np.ndarray, best_score: np.ndarray, names: list[str], row_ids: np.ndarray) -> list[
        dict[str, Any]]:
    """The suggestion records of the chosen entries, with their evidence."""
    if not best.size:
        return []
    evidence = scorer.evidence
    n_labels = len(names)
    samples = np.unique(best // n_labels)
    values = evidence.block(samples)
    where = {int(i): j for j, i in enumerate(samples)}
    conditional, _ = cooccurrence_statistics(indicator(evidence.observed, POSITIVE),
                                             indicator(evidence.observed, UNKNOWN))
    conditional = sp.csc_matrix(conditional)
    carriers_of = None
    if evidence.neighbours is not None:
        near = evidence.neighbours[samples]
        near_labels = evidence.observed[np.unique(near)]
        near_labels = near_labels.toarray() if sp.issparse(near_labels) else np.asarray(near_labels)
        position = {int(j): r for r, j in enumerate(np.unique(near))}
        carriers_of = (near, near_labels, position)
    rows = []
    for rank, (entry, value) in enumerate(zip(best, best_score), start=1):
        i, c = divmod(int(entry), n_labels)
        j = where[i]
        positives = np.flatnonzero(values["labels"][j] == POSITIVE)
        support = conditional[positives, c].toarray().ravel() if positives.size else np.zeros(0)
        order = np.argsort(-support, kind="stable")[:_N_EVIDENCE]
        co = "; ".join(f"{names[positives[t]]} ({support[t]:.2f})" for t in order if support[t] > 0)
        near_text = ""
        if carriers_of is not None:
            near, near_labels, position = carriers_of
            carriers = [r for r in near[j] if near_labels[position[int(r)], c] == POSITIVE][:_N_EVIDENCE]
            near_text = "; ".join(row_ids[carriers])
        rows.append({
            "rank": rank,
            "id": str(row_ids[i]),
            "label": names[c],
            "score": float(value),
            "prior": float(values["prior"][j, c]),
            "neighbour_vote": float(values["vote"][j, c]) if "vote" in values else None,
            "model_probability": float(values["model"][j, c]) if "model" in values else None,
            "co_occurring": co,
            "neighbours": near_text,
        })
    return rows


def _allowed_labels(labels: list[str] | None, names: list[str]) -> np.ndarray | None:
    if labels is None:
        return None
    position = {name: c for c, name in enumerate(names)}
    unknown = [str(x) for x in labels if str(x) not in position]
    if unknown:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise MLMLError(f"The 'labels' parameter of suggest names {unknown[0]!r}, not a label of the data set "
                        f"({shown}).")
    allowed = np.zeros(len(names), dtype=bool)
    allowed[[position[str(x)] for x in labels]] = True
    return allowed


def _checked_probabilities(probabilities: Any, shape: tuple[int, int]) -> np.ndarray | None:
    if probabilities is None:
        return None
    model = np.asarray(probabilities)
    if model.shape != shape:
        raise MLMLError(f"'probabilities' has shape {model.shape}; 'observed' has shape {shape}.")
    if not np.isfinite(model).all() or model.min() < 0.0 or model.max() > 1.0:
        raise MLMLError("'probabilities' must hold finite values in [0, 1].")
    return model
