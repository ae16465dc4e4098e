"""``mlml suggest``: rank the (sample, label) pairs most likely to be missing positives, with their evidence.

Every observed zero ``(i, c)`` gets a score ``q_ic``, the estimated probability that it is a missing positive:

* ``method="labels"`` -- the labels-only co-occurrence prior (a registered estimator, default
  ``"pairwise-noisy-or"``) smoothed towards the class rate: ``q = (1 − ε)(1 − ω̄^prior) + ε π_c``;
* ``method="knn"`` -- the prior refined by a k-NN vote in feature space (:mod:`mlml.weights.neighbors`,
  Bayes' rule: ``logit q = logit q̃ + logit g − logit π``);
* ``method="auto"`` -- ``"knn"`` when features are given, ``"labels"`` otherwise.

Model evidence: where ``probabilities`` (a model's ``P(s = 1 | x)`` for every row, best from out-of-fold
predictions so that the model has not learned the very zeros being ranked) are given, they update the score
the same way as the neighbours do: ``logit q ← logit q + logit p − logit π``.

Each suggestion carries its evidence: the observed labels of the sample that co-occur most with the suggested
label (``p(c | l)`` from the pairwise statistics), the neighbour vote and the nearest neighbours that carry
the label, and the model probability. Typical use::

    rows = suggest(observed, features=X, label_names=names, ids=ids, top_k=100)
    write_suggestions_csv(rows, "suggestions.csv")
    print(format_table(rows, 20))
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from mlml._csv import write_rows
from mlml._validation import check_fraction, check_option, check_positive_int
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, check_labels, to_dense
from mlml.weights import ESTIMATORS
from mlml.weights.base import is_labels_only
from mlml.weights.neighbors import NeighbourCooccurrence, class_rate, logit, sigmoid, smoothed_prior
from mlml.weights.pairwise import cooccurrence_statistics, indicator

SuggestMethod = Literal["auto", "labels", "knn"]
METHODS: tuple[str, ...] = ("auto", "labels", "knn")
COLUMNS: tuple[str, ...] = (
    "rank",
    "id",
    "label",
    "score",
    "prior",
    "neighbour_vote",
    "model_probability",
    "co_occurring",
    "neighbours",
)
_N_EVIDENCE = 3
#: Beyond this many label entries (rows x labels) suggest scores a block of rows at a time (labels only).
STREAMED_ENTRIES = 1 << 26


def missing_scores(
    observed: LabelMatrix,
    *,
    features: Any = None,
    probabilities: np.ndarray | None = None,
    method: SuggestMethod = "auto",
    prior: str = "pairwise-noisy-or",
    n_neighbors: int = 20,
    prior_smoothing: float = 0.1,
) -> dict[str, Any]:
    """Score every entry of ``observed`` as a possible missing positive (see the module docstring).

    Args:
        observed: ``(n_samples, n_labels)`` int8 labels (1 / 0 / -1), dense or CSR.
        features: ``(n_samples, n_features)`` dense or CSR, for ``method="knn"`` (or ``"auto"``).
        probabilities: optional ``(n_samples, n_labels)`` model probabilities in [0, 1].
        method: ``"auto"``, ``"labels"`` or ``"knn"``.
        prior: the registered labels-only estimator giving the co-occurrence prior.
        n_neighbors: ``k`` for ``method="knn"``.
        prior_smoothing: ``ε``: the prior is ``q̃ = (1 − ε)(1 − ω̄^prior) + ε π_c`` in both methods, so that
            labels with no observed co-occurrence are still ranked by their class rate ``π_c``.

    Returns:
        A dict with ``score`` (``(n, C)`` float64 ``q``; ``-inf`` on observed positives and unknown entries),
        ``prior`` (``(n, C)`` labels-only probability), ``vote`` (``(n, C)`` or None), ``neighbours`` (int
        ``(n, k)`` or None), ``model`` (``(n, C)`` or None), ``method`` (the method used).
    """
    check_option(method, "method", "suggest", METHODS)
    prior_smoothing = check_fraction(prior_smoothing, "prior_smoothing", "suggest")
    observed = check_labels(observed, name="observed")
    dense = to_dense(observed).astype(np.int8, copy=False)
    if not is_labels_only(prior):
        raise MLMLError(
            f"The 'prior' parameter of suggest must name a labels-only estimator (e.g. 'pairwise-noisy-or', "
            f"'denoising-mlp'). Got {prior!r}."
        )
    if method == "auto":
        method = "knn" if features is not None else "labels"
    if method == "knn":
        if features is None:
            raise MLMLError("suggest(method='knn') needs 'features' (n_samples, n_features).")
        estimator = NeighbourCooccurrence(
            prior=prior, n_neighbors=n_neighbors, prior_smoothing=prior_smoothing
        ).fit(observed, features=features)
        evidence = estimator.evidence(observed, features=features, rows=np.arange(observed.shape[0]))
        score, prior_q = evidence["posterior"], evidence["prior"]
        vote, neighbours = evidence["vote"], evidence["neighbours"]
    else:
        _, neg = ESTIMATORS.create(prior).fit_transform(observed)
        score = prior_q = smoothed_prior(neg, class_rate(dense), prior_smoothing)
        vote = neighbours = None
    model = None
    if probabilities is not None:
        model = np.asarray(probabilities, dtype=np.float64)
        if model.shape != dense.shape:
            raise MLMLError(f"'probabilities' has shape {model.shape}; 'observed' has shape {dense.shape}.")
        if not np.isfinite(model).all() or model.min() < 0.0 or model.max() > 1.0:
            raise MLMLError("'probabilities' must hold finite values in [0, 1].")
        rate = class_rate(dense)
        score = sigmoid(logit(score) + logit(model) - logit(rate))
    score = np.where(dense == 0, score, -np.inf)
    return {"score": score, "prior": prior_q, "vote": vote, "neighbours": neighbours, "model": model,
            "method": method}


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
) -> list[dict[str, Any]]:
    """The ``top_k`` observed zeros most likely to be missing positives, best first, with their evidence.

    Args:
        observed, features, probabilities, method, prior, n_neighbors, prior_smoothing: as in
            :func:`missing_scores`.
        label_names: the ``n_labels`` label names (default ``"0"``, ``"1"``, ...).
        ids: the ``n_samples`` sample ids (default the row numbers).
        top_k: how many suggestions (fewer when there are fewer observed zeros).

    Returns:
        One dict per suggestion with the keys of ``COLUMNS``: ``rank`` (1-based), ``id``, ``label``, ``score``
        (probability of a missing positive), ``prior`` (labels-only probability), ``neighbour_vote`` and
        ``model_probability`` (None when not used), ``co_occurring`` (up to 3 observed labels of the sample,
        ``"name (p(c|name))"``, joined by ``"; "``), ``neighbours`` (up to 3 ids of the nearest training rows
        that carry the label, joined by ``"; "``).
    """
    check_positive_int(top_k, "top_k", "suggest")
    observed = check_labels(observed, name="observed")
    n_samples, n_labels = observed.shape
    names = [str(i) for i in range(n_labels)] if label_names is None else [str(x) for x in label_names]
    if len(names) != n_labels:
        raise MLMLError(f"'label_names' has {len(names)} names; 'observed' has {n_labels} labels.")
    row_ids = np.arange(n_samples).astype(str) if ids is None else np.asarray(ids).astype(str)
    if row_ids.shape != (n_samples,):
        raise MLMLError(f"'ids' has {row_ids.size} entries; 'observed' has {n_samples} rows.")
    if n_samples * n_labels > STREAMED_ENTRIES:
        return _suggest_streamed(observed, features=features, probabilities=probabilities, method=method,
                                 prior=prior, prior_smoothing=prior_smoothing, top_k=top_k, names=names,
                                 row_ids=row_ids)
    dense = to_dense(observed).astype(np.int8, copy=False)
    result = missing_scores(
        observed, features=features, probabilities=probabilities, method=method, prior=prior,
        n_neighbors=n_neighbors, prior_smoothing=prior_smoothing,
    )
    flat = result["score"].ravel()
    candidates = np.flatnonzero(np.isfinite(flat))
    k = min(top_k, candidates.size)
    if k == 0:
        return []
    best = candidates[np.argpartition(-flat[candidates], k - 1)[:k]]
    best = best[np.lexsort((best, -flat[best]))]  # score descending, ties by position
    conditional, _ = cooccurrence_statistics(indicator(observed, POSITIVE), indicator(observed, UNKNOWN))
    conditional = sp.csc_matrix(conditional)
    rows = []
    for rank, entry in enumerate(best, start=1):
        i, c = divmod(int(entry), n_labels)
        positives = np.flatnonzero(dense[i] == POSITIVE)
        support = conditional[positives, c].toarray().ravel() if positives.size else np.zeros(0)
        order = np.argsort(-support, kind="stable")[:_N_EVIDENCE]
        co = "; ".join(f"{names[positives[j]]} ({support[j]:.2f})" for j in order if support[j] > 0)
        near = ""
        if result["neighbours"] is not None:
            carriers = [j for j in result["neighbours"][i] if dense[j, c] == POSITIVE][:_N_EVIDENCE]
            near = "; ".join(row_ids[carriers])
        rows.append({
            "rank": rank,
            "id": str(row_ids[i]),
            "label": names[c],
            "score": float(flat[entry]),
            "prior": float(result["prior"][i, c]),
            "neighbour_vote": None if result["vote"] is None else float(result["vote"][i, c]),
            "model_probability": None if result["model"] is None else float(result["model"][i, c]),
            "co_occurring": co,
            "neighbours": near,
        })
    return rows


def _suggest_streamed(
    observed: LabelMatrix, *, features: Any, probabilities: Any, method: str, prior: str, prior_smoothing: float,
    top_k: int, names: list[str], row_ids: np.ndarray,
) -> list[dict[str, Any]]:
    """:func:`suggest` for label sets beyond ``STREAMED_ENTRIES`` entries: the labels-only score of a block of
    rows at a time, keeping the best ``top_k`` so far; the same ranking as the dense computation (score
    descending, ties by position), without any ``n_samples x n_labels`` array."""
    check_option(method, "method", "suggest", METHODS)
    prior_smoothing = check_fraction(prior_smoothing, "prior_smoothing", "suggest")
    n_samples, n_labels = observed.shape
    if method == "knn" or probabilities is not None:
        raise MLMLError(
            f"suggest on {n_samples:,} x {n_labels:,} labels runs the labels-only score batch by batch; "
            "the k-NN refinement and model probabilities need every row at once: use method='labels' (the "
            "command line's --method labels) without probabilities."
        )
    if method == "auto" and features is not None:
        warnings.warn(f"suggest: {n_samples:,} x {n_labels:,} labels are scored with the labels-only prior "
                      "(the k-NN refinement needs every row at once).", stacklevel=3)
    if not is_labels_only(prior):
        raise MLMLError(
            f"The 'prior' parameter of suggest must name a labels-only estimator (e.g. 'pairwise-noisy-or', "
            f"'denoising-mlp'). Got {prior!r}."
        )
    csr = sp.csr_matrix(observed, copy=True)
    csr.sort_indices()
    positives = np.bincount(csr.indices[csr.data == POSITIVE], minlength=n_labels)
    unknown = np.bincount(csr.indices[csr.data == UNKNOWN], minlength=n_labels)
    rate = (positives + 1.0) / (n_samples - unknown + 2.0)  # class_rate, from the sparse counts
    estimator = ESTIMATORS.create(prior).fit(csr)
    best = np.empty(0, dtype=np.int64)
    best_score = np.empty(0)
    best_prior = np.empty(0)
    step = max(1, STREAMED_ENTRIES // 16 // n_labels)
    for start in range(0, n_samples, step):
        block = csr[start : start + step]
        _, neg = estimator.transform(block, rows=np.arange(start, start + block.shape[0]))
        score = smoothed_prior(neg, rate, prior_smoothing)
        prior_q = score
        dense = block.toarray()
        flat = np.where(dense == 0, score, -np.inf).ravel()
        candidates = np.flatnonzero(np.isfinite(flat))
        k = min(top_k, candidates.size)
        if k:
            kth = -np.partition(-flat[candidates], k - 1)[k - 1]
            keep = candidates[flat[candidates] >= kth]  # every entry tied with the k-th, ties resolved below
            best = np.concatenate([best, keep + start * n_labels])
            best_score = np.concatenate([best_score, flat[keep]])
            best_prior = np.concatenate([best_prior, prior_q.ravel()[keep]])
            order = np.lexsort((best, -best_score))[:top_k]  # score descending, ties by position
            best, best_score, best_prior = best[order], best_score[order], best_prior[order]
    if not best.size:
        return []
    conditional, _ = cooccurrence_statistics(indicator(csr, POSITIVE), indicator(csr, UNKNOWN))
    conditional = sp.csc_matrix(conditional)
    rows = []
    for rank, (entry, value, prior_value) in enumerate(zip(best, best_score, best_prior), start=1):
        i, c = divmod(int(entry), n_labels)
        line = csr[i]
        row_positives = line.indices[line.data == POSITIVE]
        support = conditional[row_positives, c].toarray().ravel() if row_positives.size else np.zeros(0)
        order = np.argsort(-support, kind="stable")[:_N_EVIDENCE]
        rows.append({
            "rank": rank, "id": str(row_ids[i]), "label": names[c], "score": float(value),
            "prior": float(prior_value), "neighbour_vote": None, "model_probability": None,
            "co_occurring": "; ".join(f"{names[row_positives[j]]} ({support[j]:.2f})" for j in order
                                      if support[j] > 0),
            "neighbours": "",
        })
    return rows


def write_suggestions_csv(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (from :func:`suggest`) to ``path`` with the header ``COLUMNS``; None becomes empty."""
    return write_rows(path, COLUMNS, rows, float_format="{:.6g}")


def format_table(rows: list[dict[str, Any]], n: int = 20) -> str:
    """A plain-text table of the first ``n`` suggestions (rank, id, label, score, evidence)."""
    check_positive_int(n, "n", "format_table")
    if not rows:
        return "No suggestions: every label is observed positive or unknown."
    header = ["rank", "id", "label", "score", "prior", "knn", "model", "evidence"]
    table = [header]
    for row in rows[:n]:
        evidence = row["co_occurring"] or "-"
        if row["neighbours"]:
            evidence += f" | near: {row['neighbours']}"
        table.append([
            str(row["rank"]), _clip(row["id"], 16), _clip(row["label"], 20), f"{row['score']:.3f}",
            f"{row['prior']:.3f}",
            "-" if row["neighbour_vote"] is None else f"{row['neighbour_vote']:.2f}",
            "-" if row["model_probability"] is None else f"{row['model_probability']:.2f}",
            _clip(evidence, 60),
        ])
    widths = [max(len(r[j]) for r in table) for j in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(rows) > n:
        lines.append(f"... {len(rows) - n} more in the CSV")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
