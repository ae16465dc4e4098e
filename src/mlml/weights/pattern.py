"""The paper's Eq. 3: ω̄ from the label patterns of the fitted observed labels.

For a sample ``i`` with observed positive set ``P_i`` (unknown ``-1`` entries are not positives) and a label
``c``, with the counts taken over the ``N`` fitted samples ``j``::

    ω̄_ic = 1 − #{j : P_i ∪ {c} ⊆ P_j} / #{j : P_i ⊆ P_j},        ω_ic = 1.

This is exactly what the seed code computes. When the fitted set itself is transformed, sample ``i`` is one of
the ``j`` (its pattern has support at least 1). Policies for the cases the formula leaves open:

* ``P_i = ∅``: every sample is a superset, the denominator is ``N`` and ``ω̄_ic = 1 − n_c / N``, the class
  prior (the natural reading of the formula; no special case in the code's result).
* an observed positive ``c ∈ P_i``: the formula gives ``1 − 1 = 0`` (it has no negative term anyway).
* a pattern with no superset among the fitted samples (denominator 0; only possible for new samples):
  ``unseen="pairwise-max"`` (default) uses the pairwise estimate of :mod:`mlml.weights.pairwise` with that
  aggregate (``"pairwise-mean"``, ``"pairwise-noisy-or"`` likewise); ``unseen="prior"`` uses ``1 − n_c / N``.
  Observed positives keep ``ω̄ = 0``. ``n_unseen_`` counts the rows of the last ``transform`` that fell back.

Algorithm (exact, integer counts). Identical patterns are grouped (``np.unique`` on bit-packed rows, any
number of labels). For each distinct pattern ``P`` we need ``D(P) = #{j : P ⊆ P_j}`` and the vector
``N(P)_c = #{j : P ∪ {c} ⊆ P_j} = Σ_{j ⊇ P} y_jc``:

The fitted samples are grouped the same way into distinct patterns ``Q`` with multiplicities ``w_Q``, so
``D(P) = Σ_{Q ⊇ P} w_Q`` and ``N(P) = Σ_{Q ⊇ P} w_Q Q``:

* ``|P| = 0``: ``D = N`` and ``N(P) = n`` (label counts);
* ``|P| = 1``, ``P = {a}``: ``D = n_a`` and ``N(P) = C[a, :]`` (a row of the co-occurrence matrix ``YᵀY``);
* ``|P| ≥ 2``: the supersets are the AND of the labels' bitsets over the fitted patterns (one ``uint64`` word
  per 64 patterns); their set bits give a sparse query × fitted-pattern superset matrix ``A``, and
  ``D = A w``, ``N = A diag(w) Q`` (sparse products). The work is ``O(m_query · m_fitted / 64 · |P|)`` word
  operations plus ``O(nnz(A))``, and large patterns have few supersets.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from mlml._params import Options
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, check_labels
from mlml.weights.base import ESTIMATORS, WeightEstimator
from mlml.weights.pairwise import aggregate_conditionals, cooccurrence_statistics, indicator

Unseen = Literal["pairwise-max", "pairwise-mean", "pairwise-noisy-or", "prior"]
UNSEEN: tuple[str, ...] = ("pairwise-max", "pairwise-mean", "pairwise-noisy-or", "prior")

_CHUNK_WORDS = 1 << 22  # bitset words per chunk of patterns (32 MiB)


def unique_patterns(positives: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Distinct rows of a 0/1 CSR matrix (any number of columns).

    Rows are bit-packed into ``uint64`` words and hashed to one ``uint64`` key; distinct keys are checked to
    hold identical rows, and a hash collision falls back to ``np.unique(..., axis=0)`` on the packed rows.

    Returns:
        ``patterns``: CSR ``(n_patterns, n_labels)`` float64 0/1, and ``inverse``: ``(n_samples,)`` so that
        row ``i`` of the input equals ``patterns[inverse[i]]``.
    """
    n_samples, n_labels = positives.shape
    n_words = (n_labels + 63) // 64
    rows = np.repeat(np.arange(n_samples), np.diff(positives.indptr))
    cols = positives.indices.astype(np.int64)
    packed = np.zeros(n_samples * n_words * 8, dtype=np.uint8)
    # distinct bits of one byte: their sum is their OR
    packed[:] = np.bincount(rows * (n_words * 8) + cols // 8, weights=1 << (cols % 8), minlength=len(packed))
    words = packed.view("<u8").reshape(n_samples, n_words)
    key = words[:, 0].copy()
    for q in range(1, n_words):
        key = key * np.uint64(0x100000001B3) ^ words[:, q]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    if n_words > 1 and not np.array_equal(words, words[first[inverse]]):
        _, first, inverse = np.unique(words, axis=0, return_index=True, return_inverse=True)
    return positives[first], inverse.ravel()


def pattern_counts(
    fitted: sp.csr_matrix, weight: np.ndarray, queries: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """Exact superset counts of each query pattern over the fitted samples.

    Args:
        fitted: CSR ``(m_fitted, n_labels)`` 0/1: the distinct patterns ``Q`` of the fitted samples.
        weight: ``(m_fitted,)`` int64: how many fitted samples have each pattern.
        queries: CSR ``(m, n_labels)`` 0/1 distinct patterns ``P``.

    Returns:
        ``denominator`` ``(m,)`` int64 = ``#{j : P ⊆ P_j} = Σ_{Q ⊇ P} w_Q`` and ``numerator``
        ``(m, n_labels)`` int64 with ``[p, c] = #{j : P ∪ {c} ⊆ P_j} = Σ_{Q ⊇ P} w_Q q_c``.
    """
    n_labels = fitted.shape[1]
    m = queries.shape[0]
    sizes = np.diff(queries.indptr)
    weighted = sp.diags(weight.astype(np.float64)) @ fitted  # row Q scaled by w_Q
    denominator = np.zeros(m, dtype=np.int64)
    numerator = np.zeros((m, n_labels), dtype=np.int64)
    counts = np.rint(np.asarray(weighted.sum(axis=0)).ravel()).astype(np.int64)

    empty = sizes == 0
    denominator[empty] = int(weight.sum())
    numerator[empty] = counts

    single = np.flatnonzero(sizes == 1)
    if len(single):
        labels = queries.indices[queries.indptr[single]]
        denominator[single] = counts[labels]
        numerator[single] = np.rint((fitted[:, labels].T @ weighted).toarray()).astype(np.int64)

    multi = np.flatnonzero(sizes >= 2)
    if len(multi):
        # largest patterns first, so that the patterns still being intersected form a prefix of the block
        multi = multi[np.argsort(-sizes[multi], kind="stable")]
        bits = _label_bitsets(fitted.tocsc())
        chunk = max(1, _CHUNK_WORDS // bits.shape[1])
        pairs_row, pairs_col = [], []
        for begin in range(0, len(multi), chunk):
            row, col = _supersets(bits, queries, multi[begin : begin + chunk])
            pairs_row.append(row + begin)
            pairs_col.append(col)
        row, col = np.concatenate(pairs_row), np.concatenate(pairs_col)
        superset = sp.csr_matrix((np.ones(len(row)), (row, col)), shape=(len(multi), fitted.shape[0]))
        denominator[multi] = np.rint(superset @ weight.astype(np.float64)).astype(np.int64)
        numerator[multi] = np.rint((superset @ weighted).toarray()).astype(np.int64)
    return denominator, numerator


def _label_bitsets(fitted_csc: sp.csc_matrix) -> np.ndarray:
    """``(n_labels, ceil(m / 64))`` uint64: bit ``j`` of row ``c`` set when pattern ``j`` has label ``c``."""
    m, n_labels = fitted_csc.shape
    n_words = (m + 63) // 64
    label = np.repeat(np.arange(n_labels), np.diff(fitted_csc.indptr))
    member = fitted_csc.indices.astype(np.int64)
    bytes_ = np.zeros(n_labels * n_words * 8, dtype=np.uint8)
    bytes_[:] = np.bincount(
        label * (n_words * 8) + member // 8, weights=1 << (member % 8), minlength=len(bytes_)
    )
    return bytes_.view("<u8").reshape(n_labels, n_words)


def _supersets(bits: np.ndarray, queries: sp.csr_matrix, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(block position, fitted pattern) pairs with ``Q ⊇ P``, by AND-ing the label bitsets of each ``P``.

    ``block`` is sorted by decreasing pattern size.
    """
    sizes = np.diff(queries.indptr)[block]
    starts = queries.indptr[block]
    acc = bits[queries.indices[starts]]
    for k in range(1, int(sizes[0])):
        n = int(np.count_nonzero(sizes > k))
        acc[:n] &= bits[queries.indices[starts[:n] + k]]
    row, word = np.nonzero(acc)
    values = acc[row, word]
    # little-endian bytes and bits: bit b of word w is fitted pattern 64 w + b
    unpacked = np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    which, bit = np.nonzero(unpacked)
    return row[which], word[which].astype(np.int64) * 64 + bit


class PatternEstimator(WeightEstimator):
    """Eq. 3 of the paper, exact (see the module docstring for the formula, the policies and the algorithm).

    Args:
        unseen: what a pattern with no superset among the fitted samples gets: ``"pairwise-max"``,
            ``"pairwise-mean"``, ``"pairwise-noisy-or"`` or ``"prior"``.

    Attributes:
        patterns_: CSR ``(m, n_labels)`` the distinct observed-positive patterns of the fitted samples.
        pattern_weight_: ``(m,)`` how many fitted samples have each pattern.
        conditional_, prior_: the pairwise statistics used for unseen patterns.
        n_unseen_: rows of the last ``transform`` whose pattern had no superset.

    Example:
        >>> import numpy as np
        >>> Y = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
        >>> pos, neg = PatternEstimator().fit_transform(Y)
        >>> neg[0].tolist()  # {0, 1} ⊆ rows 0 and 1; only row 1 also has label 2
        [0.0, 0.0, 0.5]
    """

    _parameter_constraints = {"unseen": [Options(UNSEEN)]}

    def __init__(self, unseen: Unseen = "pairwise-max") -> None:
        self.unseen = unseen

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        positives = indicator(observed, POSITIVE)
        self.patterns_, inverse = unique_patterns(positives)
        self.pattern_weight_ = np.bincount(inverse, minlength=self.patterns_.shape[0]).astype(np.int64)
        self.conditional_, self.prior_ = cooccurrence_statistics(positives, indicator(observed, UNKNOWN))

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        positives = indicator(observed, POSITIVE)
        probability = self._probability(positives)
        missing = np.flatnonzero(np.isnan(probability[:, 0]))
        self.n_unseen_ = len(missing)
        if len(missing):
            subset = positives[missing]
            if self.unseen == "prior":
                fallback = np.tile(self.prior_, (len(missing), 1))
            else:
                aggregate = self.unseen.removeprefix("pairwise-")
                fallback = aggregate_conditionals(self.conditional_, self.prior_, subset, aggregate)
            fallback[subset.toarray() > 0] = 1.0
            probability[missing] = fallback
        return np.ones(observed.shape), np.clip(1.0 - probability, 0.0, 1.0)

    def pattern_support(self, observed: LabelMatrix) -> tuple[np.ndarray, np.ndarray]:
        """The integer counts of Eq. 3 per sample.

        Returns:
            ``numerator`` ``(n_samples, n_labels)`` int64, ``#{j : P_i ∪ {c} ⊆ P_j}``, and ``denominator``
            ``(n_samples,)`` int64, ``#{j : P_i ⊆ P_j}``, over the fitted samples ``j``.
        """
        self._check_fitted()
        observed = check_labels(observed, name="observed", n_labels=self.n_labels_)
        return self._support(indicator(observed, POSITIVE))

    def _support(self, positives: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        queries, inverse = unique_patterns(positives)
        denominator, numerator = pattern_counts(self.patterns_, self.pattern_weight_, queries)
        return numerator[inverse], denominator[inverse]

    def _probability(self, positives: sp.csr_matrix) -> np.ndarray:
        """``numerator / denominator`` per sample, NaN rows where ``0 / 0``."""
        numerator, denominator = self._support(positives)
        with np.errstate(invalid="ignore", divide="ignore"):
            return numerator / denominator[:, None].astype(np.float64)


ESTIMATORS.register("pattern", PatternEstimator)
