"""Hiding labels: the paper's per-sample scheme, the field's other missing-label schemes, and partial labels.

The missing-label schemes only ever turn observed positives (``1``) into ``0`` (suspect zeros); negatives,
verified negatives (``2``) and unknowns (``-1``) are left alone, and the returned boolean mask marks exactly the
hidden entries. The partial-label scheme (``"partial"``, :func:`keep_known_labels`) instead makes labels
unannotated. Every scheme draws from a ``numpy.random.Generator`` built from ``random_state`` and never touches
global random state, and dense and CSR inputs give the same result for the same seed.

Schemes (``scheme=``):

``"per-sample"`` (the paper's, Ibrahim et al. 2020)
    Sample ``i`` with ``n_i`` positives loses exactly ``round_half_even(ratio * n_i)`` of them, chosen uniformly
    without replacement.
``"uniform"``
    Each positive is hidden independently with probability ``ratio``.
``"single-positive"`` (Cole et al. 2021)
    One positive per sample, chosen uniformly, is kept; all others are hidden. ``ratio`` is not used.
``"per-class"``
    Each positive of class ``c`` is hidden independently with probability ``class_ratios[c]``;
    :func:`rarity_ratios` builds ratios under which rarer classes lose more.
``"partial"`` (Durand et al., CVPR 2019: partial labels)
    ``ratio`` is the KNOWN proportion ``p``, not a missing ratio: every label -- positives and negatives alike
    -- is kept independently with probability ``p`` and made unannotated (``-1``) otherwise; a kept positive
    stays ``1`` and a kept negative becomes a verified negative (``2``). See :func:`keep_known_labels`.

``keep_at_least_one=True`` makes sure every sample that had a positive keeps one (for ``"per-sample"`` the
count becomes ``min(round(r n_i), n_i - 1)``; for the random schemes one hidden positive, chosen uniformly, is
restored where a sample would lose all).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from mlml._validation import RandomState, check_fraction, check_memory, check_option, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import NEGATIVE, POSITIVE, UNKNOWN, VERIFIED_NEGATIVE, LabelMatrix, check_labels, label_counts

Scheme = Literal["per-sample", "uniform", "single-positive", "per-class", "partial"]
SCHEMES: tuple[str, ...] = ("per-sample", "uniform", "single-positive", "per-class", "partial")
#: Rows of a CSR matrix drawn at once by :func:`keep_known_labels` (bounds the uniform draws held in memory).
_PARTIAL_CHUNK_ENTRIES = 1 << 22


def hide_positives(
    labels: LabelMatrix,
    ratio: float | None = None,
    *,
    scheme: Scheme = "per-sample",
    class_ratios: np.ndarray | None = None,
    keep_at_least_one: bool = False,
    random_state: RandomState = None,
) -> tuple[LabelMatrix, LabelMatrix]:
    """Hide positives of ``labels`` and return ``(observed, hidden)``.

    Args:
        labels: complete labels, ``(n_samples, n_labels)``, dense or CSR, values in ``{-1, 0, 1, 2}``.
        ratio: the missing ratio in [0, 1] (``"per-sample"`` and ``"uniform"``); for ``"partial"`` the known
            proportion in [0, 1] (:func:`keep_known_labels`).
        scheme: one of ``"per-sample"``, ``"uniform"``, ``"single-positive"``, ``"per-class"``, ``"partial"``.
        class_ratios: ``(n_labels,)`` ratios in [0, 1], for ``"per-class"`` only.
        keep_at_least_one: never hide the last positive of a sample.
        random_state: seed or Generator.

    Returns:
        ``observed`` (same type as ``labels``, ``int8``; hidden positives set to 0, or for ``"partial"`` the
        partial annotations) and ``hidden``, a boolean matrix of the same shape and type marking the hidden
        positives.

    Example:
        >>> import numpy as np
        >>> observed, hidden = hide_positives(np.array([[1, 1, 0, 1]]), 0.5, random_state=0)
        >>> int(hidden.sum())  # round_half_even(0.5 * 3) = 2
        2
    """
    owner = "hide_positives"
    scheme = check_option(scheme, "scheme", owner, SCHEMES)  # type: ignore[assignment]
    labels = check_labels(labels)
    n_samples, n_labels = labels.shape
    if scheme == "partial":
        if class_ratios is not None or keep_at_least_one:
            raise MLMLError(f"The scheme 'partial' of {owner} takes neither 'class_ratios' nor 'keep_at_least_one'.")
        if ratio is None:
            raise MLMLError(f"The 'ratio' parameter of {owner} (the known proportion) is required for scheme "
                            "'partial'.")
        return keep_known_labels(labels, check_fraction(ratio, "ratio", owner), random_state=random_state)
    if scheme in ("per-sample", "uniform"):
        if ratio is None:
            raise MLMLError(f"The 'ratio' parameter of {owner} is required for scheme {scheme!r}.")
        ratio = check_fraction(ratio, "ratio", owner)
    elif ratio is not None:
        raise MLMLError(f"The 'ratio' parameter of {owner} is not used by scheme {scheme!r}; leave it None.")
    if scheme == "per-class":
        class_ratios = _check_class_ratios(class_ratios, n_labels, owner)
    elif class_ratios is not None:
        raise MLMLError(f"The 'class_ratios' parameter of {owner} is only used by scheme 'per-class'.")
    rng = check_random_state(random_state)

    rows, cols = _positive_entries(labels)  # row-major order, same for dense and CSR
    n_pos = np.bincount(rows, minlength=n_samples)
    rank = _random_rank_within_rows(rows, n_pos, rng)
    if scheme == "per-sample":
        n_hide = np.round(ratio * n_pos).astype(np.int64)  # numpy rounds half to even
        if keep_at_least_one:
            n_hide = np.minimum(n_hide, np.maximum(n_pos - 1, 0))
        hide = rank < n_hide[rows]
    elif scheme == "single-positive":
        hide = rank >= 1
    else:
        p = ratio if scheme == "uniform" else class_ratios[cols]
        hide = rng.random(len(rows)) < p
        if keep_at_least_one:
            lost_all = np.bincount(rows, weights=hide, minlength=n_samples) == n_pos
            hide &= ~(lost_all[rows] & (rank == 0))
    return _apply(labels, rows[hide], cols[hide])


def keep_known_labels(
    labels: LabelMatrix, known: float, *, random_state: RandomState = None
) -> tuple[LabelMatrix, LabelMatrix]:
    """Partial labels (Durand et al. 2019): keep each label with probability ``known``, make the rest unannotated.

    Every entry ``(i, c)`` draws ``u_ic ~ U[0, 1)`` (row-major order, so dense and CSR inputs agree for the same
    seed) and is kept when ``u_ic < known`` -- positives and negatives alike, independently, as in the protocol's
    public implementations (HCP-MLR-PL's ``changeLabelProportion``). A kept positive stays ``1``, a kept ``0``
    becomes a verified negative (``2``), a kept ``2`` or ``-1`` stays as it was; a dropped entry becomes ``-1``.
    The known proportion of each sample therefore varies around ``known`` (what Durand et al.'s normalisation
    ``g(p_y)`` reads).

    Args:
        labels: ``(n_samples, n_labels)`` labels, dense or CSR (complete labels in the protocol).
        known: the known proportion ``p`` in [0, 1].
        random_state: seed or Generator.

    Returns:
        ``observed``: the partial annotations, same type as ``labels`` (a CSR output stores every entry: after
        the simulation none is a ``0``), and ``hidden``: bool, the positives made unannotated.

    Example:
        >>> import numpy as np
        >>> observed, hidden = keep_known_labels(np.array([[1, 0, 1, 0]]), 1.0)
        >>> observed.tolist(), int(hidden.sum())
        ([[1, 2, 1, 2]], 0)
    """
    known = check_fraction(known, "known", "keep_known_labels")
    labels = check_labels(labels)
    rng = check_random_state(random_state)
    if not sp.issparse(labels):
        keep = rng.random(labels.shape) < known
        return _partial_rows(labels, keep)
    n_samples, n_labels = labels.shape
    check_memory(n_samples * n_labels * 5, f"The partial annotations of a ({n_samples:,} x {n_labels:,}) CSR matrix")
    chunk = max(1, _PARTIAL_CHUNK_ENTRIES // max(n_labels, 1))
    parts, hidden_parts = [], []
    for start in range(0, n_samples, chunk):
        block = labels[start : start + chunk].toarray()
        observed, hidden = _partial_rows(block, rng.random(block.shape) < known)
        parts.append(sp.csr_matrix(observed))
        hidden_parts.append(sp.csr_matrix(hidden))
    return sp.vstack(parts, format="csr", dtype=np.int8), sp.vstack(hidden_parts, format="csr", dtype=bool)


def _partial_rows(labels: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense partial annotations of ``labels`` given the kept entries."""
    observed = np.where(keep, labels, UNKNOWN).astype(np.int8)
    observed[keep & (labels == NEGATIVE)] = VERIFIED_NEGATIVE
    return observed, ~keep & (labels == POSITIVE)


def rarity_ratios(labels: LabelMatrix, ratio: float, *, exponent: float = 0.5) -> np.ndarray:
    """Class-dependent ratios under which rarer classes lose more of their positives.

    ``r_c = clip(ratio * (median_c' n_c' / n_c) ** exponent, 0, 1)`` with ``n_c`` the positives of class ``c``
    (classes without positives get ``ratio``). A class of median frequency loses ``ratio``; ``exponent = 0``
    gives the same ratio everywhere.
    """
    ratio = check_fraction(ratio, "ratio", "rarity_ratios")
    counts = label_counts(check_labels(labels)).astype(float)
    present = counts > 0
    out = np.full(counts.shape, ratio)
    if present.any():
        out[present] = ratio * (np.median(counts[present]) / counts[present]) ** exponent
    return np.clip(out, 0.0, 1.0)


def _check_class_ratios(class_ratios: np.ndarray | None, n_labels: int, owner: str) -> np.ndarray:
    if class_ratios is None:
        raise MLMLError(f"The 'class_ratios' parameter of {owner} is required for scheme 'per-class'.")
    values = np.asarray(class_ratios, dtype=float)
    if values.shape != (n_labels,) or not np.all((values >= 0) & (values <= 1)):
        raise MLMLError(
            f"The 'class_ratios' parameter of {owner} must be {n_labels} floats in [0, 1]. "
            f"Got shape {values.shape}, range [{values.min(initial=np.nan)}, {values.max(initial=np.nan)}]."
        )
    return values


def _positive_entries(labels: LabelMatrix) -> tuple[np.ndarray, np.ndarray]:
    if sp.issparse(labels):
        coo = labels.tocoo()
        keep = coo.data == POSITIVE
        rows, cols = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
        order = np.lexsort((cols, rows))
        return rows[order], cols[order]
    rows, cols = np.nonzero(labels == POSITIVE)
    return rows.astype(np.int64), cols.astype(np.int64)


def _random_rank_within_rows(rows: np.ndarray, n_pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation rank (0..n_i-1) of each positive within its row."""
    keys = rng.random(len(rows))
    order = np.lexsort((keys, rows))
    starts = np.cumsum(n_pos) - n_pos
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - starts[rows[order]]
    return rank


def _apply(labels: LabelMatrix, rows: np.ndarray, cols: np.ndarray) -> tuple[LabelMatrix, LabelMatrix]:
    shape = labels.shape
    if sp.issparse(labels):
        hidden = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=shape)
        observed = (labels - sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=shape))
        observed = sp.csr_matrix(observed, dtype=np.int8)
        observed.eliminate_zeros()
        return observed, hidden
    hidden = np.zeros(shape, dtype=bool)
    hidden[rows, cols] = True
    observed = labels.copy()
    observed[hidden] = 0
    return observed, hidden
