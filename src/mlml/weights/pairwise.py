"""Pairwise co-occurrence estimates of ω̄: P(c | l) aggregated over the observed positives l of a sample.

From the fitted observed labels (``N`` samples; ``P_j`` the observed positives of sample ``j``; unknown ``-1``
entries are not positives) let

* ``C[l, c] = #{j : l ∈ P_j and c ∈ P_j}`` -- the co-occurrence matrix ``YᵀY`` (``C[l, l] = n_l``),
* ``K[l, c] = #{j : l ∈ P_j and y_jc ≠ -1}`` -- the samples where ``c`` could have been seen with ``l``
  (``K[l, c] = n_l`` when nothing is unknown),
* ``p(c | l) = C[l, c] / K[l, c]`` (0 where ``K[l, c] = 0``), and the class prior
  ``π_c = n_c / #{j : y_jc ≠ -1}``.

For a sample ``i`` with observed positives ``P_i`` and a label ``c ∉ P_i``::

    max:       ω̄_ic = 1 − max_{l ∈ P_i} p(c | l)
    mean:      ω̄_ic = 1 − (1 / |P_i|) Σ_{l ∈ P_i} p(c | l)
    noisy-or:  ω̄_ic = 1 − [1 − Π_{l ∈ P_i} (1 − p(c | l))]  =  Π_{l ∈ P_i} (1 − p(c | l))

A sample with no observed positive gets the prior, ``ω̄_ic = 1 − π_c``. An observed positive has no negative
term: ``ω̄_ic = 0`` for ``c ∈ P_i`` (as in Eq. 3, where ``P_i ∪ {c} = P_i`` gives ``1 − 1``). ``ω = 1``.

Everything is sparse (``C`` is a CSR ``YᵀY``), so thousands of labels are fine; the only dense arrays are the
``(n_samples, n_labels)`` outputs of a batch. Up to ``DENSE_LABELS`` labels the estimator also keeps ``p(c | l)``
(or ``log(1 − p(c | l))``) as a dense table and aggregates by a sparse-times-dense product: the same sums in
the same order (float64), and with ``transform(..., dtype=np.float32)`` (what the trainer asks for on large sets,
batch by batch) in float32 throughout, ω̄ computed directly (:func:`negative_weights`) and ω returned as a
read-only broadcast view of ones.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from mlml._params import Options
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix
from mlml.weights.base import ESTIMATORS, WeightEstimator

Aggregate = Literal["max", "mean", "noisy-or"]
AGGREGATES: tuple[str, ...] = ("max", "mean", "noisy-or")
#: Up to this many labels the conditional probabilities are also kept as a dense table (8 MB at 1,000 labels).
DENSE_LABELS = 4096


def indicator(observed: LabelMatrix, value: int) -> sp.csr_matrix:
    """CSR ``(n_samples, n_labels)`` float64 indicator of the entries equal to ``value`` (1 or -1)."""
    if sp.issparse(observed):
        csr = sp.csr_matrix(observed)
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()  # sorted indices, no repeated entry
        mask = csr.data == value
        indptr = np.concatenate([[0], np.cumsum(mask)])[csr.indptr]  # the kept entries before each row
        return sp.csr_matrix((np.ones(int(mask.sum())), csr.indices[mask], indptr), shape=csr.shape)
    rows, cols = np.nonzero(np.asarray(observed) == value)
    out = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=observed.shape)
    out.sort_indices()
    return out


def cooccurrence_statistics(
    positives: sp.csr_matrix, unknown: sp.csr_matrix
) -> tuple[sp.csr_matrix, np.ndarray]:
    """``p(c | l)`` as a CSR ``(n_labels, n_labels)`` matrix and the prior ``π`` ``(n_labels,)``.

    Args:
        positives, unknown: CSR ``(n_samples, n_labels)`` indicators of the positive and the unknown entries
            (:func:`indicator`).

    See the module docstring for the formulas (unknown entries excluded from the denominators).
    """
    co = (positives.T @ positives).tocsr()
    counts = np.asarray(positives.sum(axis=0)).ravel()
    known = positives.shape[0] - np.asarray(unknown.sum(axis=0)).ravel()
    co.sort_indices()
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    denominator = counts[rows].astype(float)
    if unknown.nnz:
        lost = (positives.T @ unknown).tocsr()  # #{j : l ∈ P_j, y_jc = -1}
        denominator = denominator - np.asarray(lost[rows, co.indices]).ravel()
    conditional = sp.csr_matrix((co.data / denominator, co.indices, co.indptr), shape=co.shape)
    prior = np.divide(counts, known, out=np.zeros(len(counts)), where=known > 0)
    return conditional, prior


def conditional_table(
    conditional: sp.csr_matrix, aggregate: str, dtype: Any = np.float64, *, complement: bool = False
) -> np.ndarray:
    """The dense ``(n_labels, n_labels)`` table an aggregate multiplies: ``log(1 − p(c | l))`` for noisy-or
    (``−inf`` where ``p(c | l) = 1``, so that one such factor makes the product 0), ``p(c | l)`` for max and mean
    (``1 − p(c | l)`` with ``complement``, what :func:`negative_weights` reads)."""
    dense = conditional.toarray()
    if aggregate == "noisy-or":
        with np.errstate(divide="ignore"):
            dense = np.where(dense >= 1.0, -np.inf, np.log1p(-np.minimum(dense, 1.0)))
    elif complement:
        dense = np.clip(1.0 - dense, 0.0, 1.0)
    return dense.astype(dtype, copy=False)


def aggregate_conditionals(
    conditional: sp.csr_matrix,
    prior: np.ndarray,
    positives: sp.csr_matrix,
    aggregate: str,
    *,
    table: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_samples, n_labels)`` aggregated ``p(c | P_i)`` (the prior where ``P_i`` is empty).

    Args:
        conditional, prior: from :func:`cooccurrence_statistics`.
        positives: CSR ``(n_samples, n_labels)`` indicator of the observed positives.
        aggregate: ``"max"``, ``"mean"`` or ``"noisy-or"``.
        table: optional :func:`conditional_table` of ``conditional`` (float64 or float32): the sums then run as
            a sparse-times-dense product in the table's dtype, which is much faster for up to a few thousand
            labels; in float64 the result is the same, term for term, as without it.

    The entries of observed positives are returned as computed; callers set them.
    """
    n_samples, n_labels = positives.shape
    sizes = np.diff(positives.indptr)
    dtype = np.float64 if table is None else table.dtype
    if table is not None:
        weights = positives if positives.dtype == dtype else positives.astype(dtype)
    if aggregate == "mean":
        out = weights @ table if table is not None else (positives @ conditional).toarray()
        out /= np.maximum(sizes, 1).astype(dtype)[:, None]
    elif aggregate == "noisy-or":
        # Π (1 − p) = exp(Σ log(1 − p)), with the factors p = 1 counted apart so that no log(0) occurs.
        if table is not None:
            out = weights @ table  # -inf where a factor p = 1 occurs
            np.exp(out, out=out)
        else:
            ones = conditional.copy()
            ones.data = (ones.data >= 1.0).astype(float)
            logs = conditional.copy()
            logs.data = np.log1p(-np.minimum(logs.data, 1.0), where=logs.data < 1.0, out=np.zeros(len(logs.data)))
            out = np.exp((positives @ logs).toarray())
            out[(positives @ ones).toarray() > 0] = 0.0
        np.subtract(1.0, out, out=out)
    else:  # max: the k-th positive of every sample at once, for k = 0, 1, ..., max |P_i| - 1
        out = np.zeros((n_samples, n_labels), dtype=dtype)
        for k in range(int(sizes.max(initial=0))):
            rows = np.flatnonzero(sizes > k)
            labels = positives.indices[positives.indptr[rows] + k]
            block = table[labels] if table is not None else conditional[labels].toarray()
            out[rows] = np.maximum(out[rows], block)
    empty = sizes == 0
    if empty.any():
        out[empty] = prior
    return out


def negative_weights(table: np.ndarray, prior: np.ndarray, positives: sp.csr_matrix, aggregate: str) -> np.ndarray:
    """ω̄ of a batch computed directly in the table's dtype (the trainer's float32 path for large sets).

    Args:
        table: :func:`conditional_table` of ``aggregate`` with ``complement=True``: ``log(1 − p(c | l))`` for
            noisy-or, ``1 − p(c | l)`` for max and mean.
        prior: ``(n_labels,)`` class priors ``π``.
        positives: CSR ``(n_samples, n_labels)`` indicator of the observed positives.
        aggregate: ``"max"``, ``"mean"`` or ``"noisy-or"``.

    Returns ``exp(Σ_l log(1 − p))``, ``min_l (1 − p)`` or ``mean_l (1 − p)``: the same quantities as ``1 −`` the
    aggregates of the module docstring without the two subtractions, ``1 − π`` on rows without positives and 0
    on the observed positives.
    """
    n_samples, n_labels = positives.shape
    sizes = np.diff(positives.indptr)
    weights = positives if positives.dtype == table.dtype else positives.astype(table.dtype)
    if aggregate == "noisy-or":
        out = weights @ table
        np.exp(out, out=out)  # in [0, 1]: a sum of logs <= 0 (-inf where a factor is 0)
    elif aggregate == "mean":
        out = weights @ table
        out *= (1.0 / np.maximum(sizes, 1)).astype(table.dtype)[:, None]
        np.clip(out, 0.0, 1.0, out=out)
    else:
        out = np.ones((n_samples, n_labels), dtype=table.dtype)
        for k in range(int(sizes.max(initial=0))):
            rows = np.flatnonzero(sizes > k)
            out[rows] = np.minimum(out[rows], table[positives.indices[positives.indptr[rows] + k]])
    empty = sizes == 0
    if empty.any():
        out[empty] = 1.0 - prior
    out[np.repeat(np.arange(n_samples), sizes), positives.indices] = 0.0
    return out


class Pairwise(WeightEstimator):
    """ω̄ from pairwise co-occurrence: ``ω̄_ic = 1 − agg_{l ∈ P_i} p(c | l)`` (see the module docstring).

    Args:
        aggregate: ``"max"``, ``"mean"`` or ``"noisy-or"``.

    Attributes:
        conditional_: CSR ``(n_labels, n_labels)``, ``p(c | l)`` at ``[l, c]``.
        prior_: ``(n_labels,)`` class priors ``π_c``.

    Example:
        >>> import numpy as np
        >>> Y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]])
        >>> pos, neg = Pairwise("max").fit_transform(Y)
        >>> neg[1].tolist()  # p(label 1 | label 0) = 1/2, p(label 2 | label 0) = 0
        [0.0, 0.5, 1.0]
    """

    _parameter_constraints = {"aggregate": [Options(AGGREGATES)]}

    def __init__(self, aggregate: Aggregate = "max") -> None:
        self.aggregate = aggregate

    native_dtype = True

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        self.conditional_, self.prior_ = cooccurrence_statistics(
            indicator(observed, POSITIVE), indicator(observed, UNKNOWN)
        )
        self.tables_: dict[str, np.ndarray] = {}

    def _table(self, dtype: np.dtype, complement: bool = False) -> np.ndarray | None:
        """The dense :func:`conditional_table` in ``dtype`` (made once), or None beyond ``DENSE_LABELS``."""
        if self.conditional_.shape[0] > DENSE_LABELS:
            return None
        tables = self.__dict__.setdefault("tables_", {})
        key = f"{dtype.name}{'-complement' if complement else ''}"
        if key not in tables:
            tables[key] = conditional_table(self.conditional_, self.aggregate, dtype, complement=complement)
        return tables[key]

    def _weights(self, observed, *, rows, features, hidden, dtype=np.float64):  # type: ignore[override]
        dtype = np.dtype(dtype)
        positives = indicator(observed, POSITIVE)
        table = self._table(dtype, complement=True) if dtype == np.float32 else None
        if table is not None:  # float32, batch by batch: ω̄ directly; ω = 1 as a read-only view (no 4n C bytes)
            ones = np.broadcast_to(np.ones(1, dtype=dtype), observed.shape)
            return ones, negative_weights(table, self.prior_, positives, self.aggregate)
        probability = aggregate_conditionals(self.conditional_, self.prior_, positives, self.aggregate,
                                             table=self._table(dtype))
        neg = np.subtract(1.0, probability, out=probability).astype(dtype, copy=False)
        entries = np.repeat(np.arange(positives.shape[0]), np.diff(positives.indptr)), positives.indices
        neg[entries] = 0.0
        return np.ones(observed.shape, dtype=dtype), np.clip(neg, 0.0, 1.0, out=neg)


def _named(aggregate: str) -> type:
    """A registered subclass per aggregate, so ``ESTIMATORS.create("pairwise-mean")`` needs no argument."""

    class Named(Pairwise):
        def __init__(self, aggregate: Aggregate = aggregate) -> None:  # type: ignore[assignment]
            super().__init__(aggregate)

    Named.__name__ = Named.__qualname__ = "Pairwise" + "".join(p.title() for p in aggregate.split("-"))
    Named.__doc__ = f"Pairwise with ``aggregate={aggregate!r}`` by default (see :class:`Pairwise`)."
    return ESTIMATORS.register(f"pairwise-{aggregate}", Named)


PairwiseMax = _named("max")
PairwiseMean = _named("mean")
PairwiseNoisyOr = _named("noisy-or")
