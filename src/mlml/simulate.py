"""Hiding positives: the paper's per-sample scheme and the field's other missing-label schemes.

All schemes only ever turn observed positives (``1``) into ``0``; negatives and unknowns (``-1``) are left
alone, and the returned boolean mask marks exactly the hidden entries. Every scheme draws from a
``numpy.random.Generator`` built from ``random_state`` and never touches global random state, and dense and CSR
inputs give the same result for the same seed.

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

``keep_at_least_one=True`` makes sure every sample that had a positive keeps one (for ``"per-sample"`` the
count becomes ``min(round(r n_i), n_i - 1)``; for the random schemes one hidden positive, chosen uniformly, is
restored where a sample would lose all).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from mlml._validation import RandomState, check_fraction, check_option, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, LabelMatrix, check_labels, label_counts

Scheme = Literal["per-sample", "uniform", "single-positive", "per-class"]
SCHEMES: tuple[str, ...] = ("per-sample", "uniform", "single-positive", "per-class")


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
        labels: complete labels, ``(n_samples, n_labels)``, dense or CSR, values in ``{-1, 0, 1}``.
        ratio: the missing ratio in [0, 1] (``"per-sample"`` and ``"uniform"``).
        scheme: one of ``"per-sample"``, ``"uniform"``, ``"single-positive"``, ``"per-class"``.
        class_ratios: ``(n_labels,)`` ratios in [0, 1], for ``"per-class"`` only.
        keep_at_least_one: never hide the last positive of a sample.
        random_state: seed or Generator.

    Returns:
        ``observed`` (same type as ``labels``, ``int8``; hidden positives set to 0) and ``hidden``, a boolean
        matrix of the same shape and type marking the hidden entries.

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
