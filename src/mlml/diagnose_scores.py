"""Out-of-fold ridge scores of each label's observed positives: step 1 of :func:`mlml.diagnose.diagnose`.

For every label ``j`` a ridge regression of ``s_j`` (observed positive against the rest), all labels at once, on
the evidence: standardised features (sparse or wide ones reduced to ``MAX_FEATURE_DIMS`` components by a truncated
SVD) and/or the row's other observed labels, these with non-negative coefficients and label ``j``'s own column
left out (:func:`_nonnegative_ridge` says why). Each row is scored by the model fitted on the other folds.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mlml._validation import RandomState, check_random_state
from mlml.exceptions import MLMLError

#: Features wider than this (or sparse) are reduced by a truncated SVD to this many components.
MAX_FEATURE_DIMS = 256


def out_of_fold_scores(
    positive: np.ndarray,
    features: np.ndarray | sp.spmatrix | None = None,
    *,
    with_labels: bool | None = None,
    n_folds: int = 3,
    ridge: float = 1e-3,
    random_state: RandomState = 0,
    evidence_cache: dict | None = None,
) -> np.ndarray:
    """Out-of-fold ridge scores of every label's observed positives, ``(n_samples, n_labels)`` float64.

    Args:
        positive: ``(n_samples, n_labels)`` bool, the observed positives (the targets).
        features: the feature evidence (None: none).
        with_labels: also read the other labels' observed positives, with non-negative coefficients (label
            ``j``'s own column left out); None: only where ``features`` is None.
        n_folds: folds of rows (each row scored by the model fitted on the others).
        ridge: the penalty per training row on the standardised evidence (``λ = ridge · n_train``).
        random_state: seed or Generator of the fold assignment and the SVD.
        evidence_cache: a dict kept across calls on the same ``features`` (one ``diagnose``): the standardised
            or SVD-reduced features are made once per SVD seed and reused (the same matrix, bit for bit; the
            SVD was half of ``diagnose``'s time on sparse text).
    """
    rng = check_random_state(random_state)
    n, n_labels = positive.shape
    targets = positive.astype(np.float64)
    with_labels = features is None if with_labels is None else with_labels
    blocks = ([] if features is None else [_evidence_matrix(features, rng, evidence_cache)]) + (
        [targets] if with_labels else [])
    if not blocks:
        raise MLMLError("out_of_fold_scores needs evidence: features, labels or both.")
    X = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
    n_free = X.shape[1] - (n_labels if with_labels else 0)  # feature columns, unconstrained; labels follow
    fold = rng.permutation(n) % n_folds
    scores = np.zeros((n, n_labels))
    for f in range(n_folds):
        train, test = fold != f, fold == f
        mean = X[train].mean(axis=0)
        centred = X[train] - mean
        gram = centred.T @ centred
        gram[np.diag_indices_from(gram)] += ridge * train.sum()
        target_mean = targets[train].mean(axis=0)
        moments = centred.T @ (targets[train] - target_mean)
        if not with_labels:
            coef = np.linalg.solve(gram, moments)
        elif n_free == 0:
            coef = _nonnegative_ridge(gram, moments)
        else:
            # the feature coefficients profiled out: W_F = G_FF⁻¹ (b_F − G_FL W_L), then the label block is a
            # non-negative ridge on the Schur complement
            free, lab = slice(0, n_free), slice(n_free, None)
            solve_ff = np.linalg.solve(gram[free, free], np.hstack([gram[free, lab], moments[free]]))
            reduced_gram = gram[lab, lab] - gram[lab, free] @ solve_ff[:, :n_labels]
            reduced_moments = moments[lab] - gram[lab, free] @ solve_ff[:, n_labels:]
            w_labels = _nonnegative_ridge(reduced_gram, reduced_moments)
            coef = np.vstack([solve_ff[:, n_labels:] - solve_ff[:, :n_labels] @ w_labels, w_labels])
        scores[test] = (X[test] - mean) @ coef + target_mean
    return scores


def _nonnegative_ridge(gram: np.ndarray, moments: np.ndarray, *, sweeps: int = 60) -> np.ndarray:
    """Coefficients ``W`` (``(C, C)``, column ``j`` for label ``j``) minimising ``½ wᵀ G w − bᵀ w`` per column
    with ``w ≥ 0`` and ``W[j, j] = 0``: cyclic coordinate descent, every label's column at once.

    Why non-negative: hiding that is coupled within a row (an annotator who tags a fixed share of each sample's
    positives; the per-sample scheme) makes labels that always co-occur look mutually exclusive once observed, so
    an unconstrained model learns "the other label observed ⇒ this one absent" and ranks the rows where this
    label is observed at the top: an artificially pure top bin and an estimate near 0. Only positive
    associations (a label that comes with another) may serve as evidence.
    """
    n_labels = gram.shape[0]
    allowed = ~np.eye(n_labels, dtype=bool)
    coef = np.zeros_like(moments)
    residual = moments.copy()  # b − G W
    diagonal = np.diag(gram)
    for _ in range(sweeps):
        largest = 0.0
        for k in range(n_labels):
            new = np.maximum(coef[k] + residual[k] / diagonal[k], 0.0) * allowed[k]
            step = new - coef[k]
            if step.any():
                residual -= gram[:, k, None] * step  # np.outer's own product, without its call overhead
                coef[k] = new
                largest = max(largest, float(np.abs(step).max()))
        if largest < 1e-8:
            break
    return coef


def _evidence_matrix(features: np.ndarray | sp.spmatrix, rng: np.random.Generator,
                     cache: dict | None = None) -> np.ndarray:
    """Standardised dense features, or a truncated SVD of sparse or wide ones (``cache``: see
    :func:`out_of_fold_scores`; ``rng`` is drawn from exactly as without it)."""
    reduce = sp.issparse(features) or features.shape[1] > MAX_FEATURE_DIMS
    key = ("svd", int(rng.integers(2**31 - 1))) if reduce else ("dense", None)
    if cache is not None and key in cache:
        return cache[key]
    X = _standardised(features, key[1])
    if cache is not None:
        cache[key] = X
    return X


def _standardised(features: np.ndarray | sp.spmatrix, seed: int | None) -> np.ndarray:
    """The features standardised, after a truncated SVD (seeded ``seed``) where ``seed`` is not None."""
    if seed is not None:
        from sklearn.decomposition import TruncatedSVD

        k = min(MAX_FEATURE_DIMS, min(features.shape) - 1)
        if k < 1:
            raise MLMLError(f"features of shape {features.shape} are too small to reduce.")
        reduced = TruncatedSVD(n_components=k, random_state=seed).fit_transform(
            sp.csr_matrix(features, dtype=np.float64) if sp.issparse(features) else np.asarray(features, np.float64))
        X = np.asarray(reduced)
    else:
        X = np.asarray(features, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise MLMLError("features hold NaN or infinite values.")
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - X.mean(axis=0)) / scale


def blas_threads_for(n: int, n_labels: int, features: np.ndarray | sp.spmatrix | None,
                     kinds: tuple[str, ...]) -> int:
    """BLAS threads for diagnosing ``n`` rows: by the rule of torch's training threads
    (:func:`mlml._threads.threads_for`) on the largest product, a Gram matrix of the evidence (``n`` or the
    features' width, times its width squared). On the MULAN sets this is one thread: their products are too small
    to split, and OpenBLAS's default of one thread per core made ``diagnose`` up to 60 times slower on the shared
    machine (:func:`mlml._threads.blas_threads`). The estimate does not depend on it (the products are split
    by output blocks; checked by ``benchmarks/bench_diagnose_cost.py``). ``kinds``: the kinds of evidence
    :func:`mlml.diagnose.diagnose` scores with."""
    from mlml._threads import threads_for

    width = 0
    if features is not None and any(kind != "labels" for kind in kinds):
        width += min(MAX_FEATURE_DIMS, features.shape[1])
    if any(kind != "features" for kind in kinds):
        width += n_labels
    rows = max(n, features.shape[1] if features is not None else 0)
    return threads_for(rows * width * width)
