"""``mlml.diagnose``'s cost without a change of its estimate: the features' SVD made once per call, and BLAS
threads chosen for the size of its products (issue 20, third round)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_info

import mlml.diagnose as diagnosis
from mlml._threads import MACS_PER_THREAD, blas_threads, threads_for
from mlml.diagnose_scores import out_of_fold_scores
from mlml.simulate import hide_positives


def _data(sparse: bool) -> tuple[np.ndarray, np.ndarray | sp.csr_matrix]:
    rng = np.random.default_rng(0)
    n, d = 400, 300
    X = rng.random((n, d)) * (rng.random((n, d)) < 0.05)
    Y = (X[:, :8] > 0).astype(np.int8) | (rng.random((n, 8)) < 0.05)
    observed, _ = hide_positives(Y, 0.4, scheme="uniform", random_state=0)
    return observed, (sp.csr_matrix(X) if sparse else X[:, :40])


@pytest.mark.parametrize("sparse", [True, False])
def test_the_evidence_cache_gives_the_same_scores_bit_for_bit(sparse):
    observed, X = _data(sparse)
    positive = observed == 1
    cache: dict = {}
    for with_labels in (True, False):  # "both" then "features", as diagnose scores them
        fresh = out_of_fold_scores(positive, X, with_labels=with_labels, random_state=7)
        cached = out_of_fold_scores(positive, X, with_labels=with_labels, random_state=7, evidence_cache=cache)
        np.testing.assert_array_equal(cached, fresh)
    assert len(cache) == 1  # one SVD (or one standardisation) for both kinds


def test_diagnose_gives_the_same_estimate_under_any_blas_thread_count(monkeypatch):
    observed, X = _data(sparse=True)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(diagnosis, "blas_threads_for", lambda *a, t=threads: t)
        results.append(diagnosis.diagnose(observed, features=X, n_bootstrap=20).to_dict())
    assert repr(results[0]) == repr(results[1])


def test_blas_threads_limits_the_blas_library_for_the_block_only():
    def blas_counts() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_counts()
    if not before:
        pytest.skip("numpy's BLAS is not visible to threadpoolctl here")
    with blas_threads(1):
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with blas_threads(None):
        assert blas_counts() == before


def test_diagnose_threads_follow_the_size_of_its_products():
    observed, X = _data(sparse=True)
    kinds = ("both", "features", "labels")
    assert diagnosis.blas_threads_for(978, 45, sp.csr_matrix((978, 1449)), kinds) == 1  # medical: one thread
    assert diagnosis.blas_threads_for(*observed.shape, X, kinds) == 1
    many = diagnosis.blas_threads_for(10**6, 300, np.zeros((1, 256)), kinds)  # 10^6 rows x 556 columns
    assert many == threads_for(10**6 * 556 * 556)  # more than one thread where the machine has the cores
    assert threads_for(3 * MACS_PER_THREAD, cpu_count=64) == 3
    assert threads_for(10**15, cpu_count=2) == 2


def test_bins_of_all_labels_at_once_equal_one_call_a_label():
    from mlml.diagnose_bbe import _score_bins, _score_bins_columns

    rng = np.random.default_rng(3)
    scores = rng.normal(size=(500, 6))
    scores[:, 2] = np.round(scores[:, 2], 1)  # many ties: fewer distinct edges than bins
    scores[:, 4] = 0.0  # one value
    columns = np.array([0, 2, 4, 5])
    together = _score_bins_columns(scores, columns)
    for i, j in enumerate(columns):
        np.testing.assert_array_equal(together[:, i], _score_bins(scores[:, j]))


def test_unweighted_bin_counts_equal_the_one_hot_column_sums():
    from mlml.diagnose_bbe import _missing_shares

    rng = np.random.default_rng(4)
    bins = rng.integers(0, 40, size=300)
    positive = rng.random(300) < 0.2
    suspect = ~positive & (rng.random(300) < 0.9)
    ones = np.ones((300, 1))  # the weighted path with unit weights: the one-hot matrix's column sums
    np.testing.assert_array_equal(_missing_shares(bins, positive, suspect, None),
                                  _missing_shares(bins, positive, suspect, ones))
