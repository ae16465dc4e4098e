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
``(n_samples, n_labels)`` outputs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_option
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix
from mlml.weights.base import ESTIMATORS, WeightEstimator

Aggregate = Literal["max", "mean", "noisy-or"]
AGGREGATES: tuple[str, ...] = ("max", "mean", "noisy-or")


def indicator(observed: LabelMatrix, value: int) -> sp.csr_matrix:
    """CSR ``(n_samples, n_labels)`` float64 indicator of the entries equal to ``value`` (1 or -1)."""
    if sp.issparse(observed):
        csr = sp.csr_matrix(observed)
        mask = csr.data == value
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[mask]
        cols = csr.indices[mask]
    else:
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


def aggregate_conditionals(
    conditional: sp.csr_matrix, prior: np.ndarray, positives: sp.csr_matrix, aggregate: str
) -> np.ndarray:
    """``(n_samples, n_labels)`` aggregated ``p(c | P_i)`` (the prior where ``P_i`` is empty).

    Args:
        conditional, prior: from :func:`cooccurrence_statistics`.
        positives: CSR ``(n_samples, n_labels)`` indicator of the observed positives.
        aggregate: ``"max"``, ``"mean"`` or ``"noisy-or"``.

    The entries of observed positives are returned as computed; callers set them.
    """
    n_samples, n_labels = positives.shape
    sizes = np.diff(positives.indptr)
    if aggregate == "mean":
        out = (positives @ conditional).toarray()
        out /= np.maximum(sizes, 1)[:, None]
    elif aggregate == "noisy-or":
        # Π (1 − p) = exp(Σ log(1 − p)), with the factors p = 1 counted apart so that no log(0) occurs.
        ones = conditional.copy()
        ones.data = (ones.data >= 1.0).astype(float)
        logs = conditional.copy()
        logs.data = np.log1p(-np.minimum(logs.data, 1.0), where=logs.data < 1.0, out=np.zeros(len(logs.data)))
        survive = np.exp((positives @ logs).toarray())
        survive[(positives @ ones).toarray() > 0] = 0.0
        out = 1.0 - survive
    else:  # max: the k-th positive of every sample at once, for k = 0, 1, ..., max |P_i| - 1
        out = np.zeros((n_samples, n_labels))
        for k in range(int(sizes.max(initial=0))):
            rows = np.flatnonzero(sizes > k)
            labels = positives.indices[positives.indptr[rows] + k]
            out[rows] = np.maximum(out[rows], conditional[labels].toarray())
    empty = sizes == 0
    if empty.any():
        out[empty] = prior
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

    def __init__(self, aggregate: Aggregate = "max") -> None:
        self.aggregate = aggregate

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        check_option(self.aggregate, "aggregate", type(self).__name__, AGGREGATES)
        self.conditional_, self.prior_ = cooccurrence_statistics(
            indicator(observed, POSITIVE), indicator(observed, UNKNOWN)
        )

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        positives = indicator(observed, POSITIVE)
        probability = aggregate_conditionals(self.conditional_, self.prior_, positives, self.aggregate)
        neg = 1.0 - probability
        neg[positives.toarray() > 0] = 0.0
        return np.ones(observed.shape), np.clip(neg, 0.0, 1.0)


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
