"""Sparse and streamed end to end (issue 13): each path that large data takes is checked against the dense one on
small data, with the size limits lowered so that the large-data path runs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.data.dataset import Dataset
from mlml.evaluation import evaluate
from mlml.evaluation.ranking import ranking_keys
from mlml.evaluation.streamed import StreamedEvaluation
from mlml.exceptions import MLMLError
from mlml.folds import make_fold
from mlml.training import TrainConfig, fit
from mlml.training import data as training_data


def _sparse_dataset(n=400, n_labels=12, n_features=20, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.25).astype(np.int8)
    labels[np.arange(n), rng.integers(0, n_labels, n)] = 1
    features = (rng.random((n, n_features)) < 0.3) * rng.normal(size=(n, n_features))
    features[:, :n_labels] += 2.0 * labels
    return Dataset("toy", sp.csr_matrix(labels), [f"l{i}" for i in range(n_labels)], np.arange(n).astype(str),
                   features=sp.csr_matrix(features.astype(np.float32)))


def test_fold_of_sparse_labels_keeps_hidden_sparse():
    dataset = _sparse_dataset()
    fold = make_fold(dataset, (np.arange(300), np.arange(300, 400)), ratio=0.5, seed=1)
    dense = make_fold(Dataset("toy", dataset.labels.toarray(), dataset.label_names, dataset.ids,
                              features=dataset.features), (np.arange(300), np.arange(300, 400)), ratio=0.5, seed=1)
    assert sp.issparse(fold.hidden_train) and sp.issparse(fold.observed_train)
    np.testing.assert_array_equal(fold.hidden_train.toarray(), dense.hidden_train)
    np.testing.assert_array_equal(fold.observed_val.toarray(), dense.observed_val)
    rows, observed, hidden = fold.training_fold()
    d_rows, d_observed, d_hidden = dense.training_fold()
    np.testing.assert_array_equal(rows, d_rows)
    assert sp.issparse(observed) and sp.issparse(hidden)
    np.testing.assert_array_equal(observed.toarray(), d_observed)
    np.testing.assert_array_equal(hidden.toarray(), d_hidden)


@pytest.mark.parametrize("method", ["cb-wce", "cb-wce-noisy-or", "knn-pu-em"])
def test_blocked_weights_train_like_the_cached_table(monkeypatch, method):
    """Beyond the cache, weights come a block of rows at a time (one transform call per block): the same entry
    weights (float32), so the same training for estimators that compute in float64 and cast."""
    dataset = _sparse_dataset()
    fold = make_fold(dataset, ratio=0.5, seed=0, val_fraction=0.2)
    config = TrainConfig(epochs=3, head="linear", batch_size=32, seed=0, log=False)
    cached = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation)
    calls = []
    original = training_data.WeightSource._compute

    def counting(self, rows, dtype=np.float64):
        calls.append(len(rows))
        return original(self, rows, dtype)

    monkeypatch.setattr(training_data, "WEIGHT_CACHE_BYTES", 0)
    monkeypatch.setattr(training_data, "WEIGHT_BLOCK_ROWS", 100)
    monkeypatch.setattr(training_data.WeightSource, "_compute", counting)
    blocked = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation)
    n_train = fold.observed_train.shape[0]
    assert len(calls) == 3 * -(-n_train // 128)  # batches of 32 gathered into blocks of >= 100 rows: 4 batches
    if method == "cb-wce-noisy-or":  # computed in float32 natively: close, not bit-equal
        assert abs(blocked.history[-1]["train_loss"] - cached.history[-1]["train_loss"]) < 1e-4
    else:
        assert [h["train_loss"] for h in blocked.history] == [h["train_loss"] for h in cached.history]
        np.testing.assert_array_equal(blocked.val_proba, cached.val_proba)


def test_weight_source_block_matches_table():
    from mlml.weights import ESTIMATORS

    observed = _sparse_dataset().labels
    estimator = ESTIMATORS.create("pattern").fit(observed)
    table = training_data.WeightSource(estimator, observed, features=None, hidden=None, pair=False)
    blocked = training_data.WeightSource(estimator, observed, features=None, hidden=None, pair=False,
                                         cache_bytes=0, block_rows=50)
    assert table.cached and not blocked.cached
    import torch

    rows = torch.tensor([5, 3, 399, 0, 17])
    blocked.prefetch(np.array([17, 0, 3, 399, 5, 8]))
    torch.testing.assert_close(blocked.batch(rows), table.batch(rows), rtol=0, atol=0)
    torch.testing.assert_close(blocked.batch(torch.tensor([1, 2])), table.batch(torch.tensor([1, 2])), rtol=0,
                               atol=0)  # outside the block: computed on the spot


def test_streamed_evaluation_equals_dense_evaluate():
    rng = np.random.default_rng(4)
    y = (rng.random((230, 9)) < 0.3).astype(np.int8)
    y[rng.random(y.shape) < 0.05] = -1
    scores = rng.random(y.shape)
    thresholds = rng.uniform(0.3, 0.7, 9)
    run = StreamedEvaluation(sp.csr_matrix(y), {"fixed": 0.5, "tuned": thresholds})
    for start in range(0, 230, 64):
        run.update(scores[start : start + 64])
    p = np.linspace(0.2, 0.9, 9)
    for name, threshold in (("fixed", 0.5), ("tuned", thresholds)):
        with pytest.warns(UserWarning, match="not computed"):
            got = run.result(name, propensity=p)
        want = evaluate(y, scores, threshold=threshold, propensity=p)
        for key in ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1",
                    "n_scored", "n_classes_no_positives", "per_class_tp", "per_class_fp", "per_class_support",
                    *ranking_keys()):
            assert got[key] == pytest.approx(want[key], rel=1e-12), key
        assert np.isnan(got["map"]) and np.isnan(got["micro_auc"])
    with pytest.raises(MLMLError, match="rows"):
        StreamedEvaluation(y, {"fixed": 0.5}).result("fixed")


def test_evaluate_model_streams_large_label_sets(monkeypatch):
    from mlml.evaluation import streamed
    from mlml.training import evaluate_model

    dataset = _sparse_dataset()
    fold = make_fold(dataset, ratio=0.0, seed=0, val_fraction=0.2)
    model = fit(fold.train_inputs, fold.observed_train, "bce", TrainConfig(epochs=2, head="linear", log=False),
                validation=fold.validation)
    dense = evaluate_model(model, dataset)
    monkeypatch.setattr(streamed, "DENSE_EVALUATION_ENTRIES", 100)
    with pytest.warns(UserWarning, match="not computed"):
        flowing = evaluate_model(model, dataset, batch_size=64)
    for key in ("micro_f1", "macro_f1", *ranking_keys()):
        assert flowing[key] == pytest.approx(dense[key], rel=1e-6), key
    # propensities come from the model's training labels
    from mlml.propensity import label_propensity

    np.testing.assert_allclose(model.propensity(), label_propensity(fold.observed_train))
    top = model.predict_topk(dataset.features, 3)
    proba = model.predict_proba(dataset.features)
    assert top.shape == (400, 3)
    assert np.all(np.take_along_axis(proba, top[:, :1], axis=1)[:, 0] == proba.max(axis=1))


def test_suggest_streams_beyond_the_limit(monkeypatch):
    from mlml import suggest as suggest_module

    dataset = _sparse_dataset(seed=3)
    observed = dataset.labels.copy()
    observed.data[::7] = -1  # some unknown entries
    observed.eliminate_zeros()
    # the literal ranking: every observed zero's score, sorted by score (descending) then position
    scores = suggest_module.missing_scores(observed, method="labels")["score"].ravel()
    finite = np.flatnonzero(np.isfinite(scores))
    literal = finite[np.lexsort((finite, -scores[finite]))][:25]
    monkeypatch.setattr(suggest_module, "BLOCK_ENTRIES", 12 * 7)  # blocks of 7 rows
    rows = suggest_module.suggest(observed, label_names=dataset.label_names, top_k=25, method="labels")
    got = [int(r["id"]) * 12 + dataset.label_names.index(r["label"]) for r in rows]
    assert got == literal.tolist()
    assert [r["score"] for r in rows] == pytest.approx(scores[literal].tolist())
    # the neighbour vote is counted block by block too (issue 24: no longer refused on large label sets)
    knn = suggest_module.suggest(observed, features=dataset.features, top_k=25, method="knn")
    assert len(knn) == 25 and all(r["neighbour_vote"] is not None for r in knn)


def test_grid_loads_a_data_set_once_per_process_even_from_concurrent_threads(monkeypatch):
    """A Dask worker runs one task per thread: the first calls for a data set must not load it twice."""
    import mlml.data
    from mlml.experiments import trials

    loads = []

    def slow_load(source, **kwargs):
        loads.append(source)
        time.sleep(0.3)
        return _sparse_dataset()

    monkeypatch.setattr(mlml.data, "load", slow_load)
    trials._dataset.cache_clear()
    try:
        threads = [threading.Thread(target=trials._dataset, args=("xc:toy", None, False)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert loads == ["xc:toy"]
        assert trials._dataset.cache_info().misses == 1
    finally:
        trials._dataset.cache_clear()


@pytest.mark.slow
def test_grid_on_a_local_cluster_loads_the_data_once_per_worker(tmp_path):
    """The cluster path: tasks carry (trial, config) only -- a few kB, whatever the data's size -- and every worker
    process loads a data set once, for all the trials (and threads) it runs."""
    import pickle

    distributed = pytest.importorskip("distributed")
    from mlml.data.xc import write_xc
    from mlml.experiments import load_config, run_grid
    from mlml.experiments.trials import grid_trials

    dataset = _sparse_dataset(n=600)
    source = f"xc:{write_xc(tmp_path / 'toy.txt', dataset.labels, dataset.features)}"
    config = load_config(None, datasets=[source], ratios=[0.5], methods=["bce", "cb-wce-noisy-or", "pw-bce"],
                         folds=2, train={"epochs": 2, "head": "linear"})
    task = pickle.dumps(grid_trials(config)[0]) + pickle.dumps(config)
    assert len(task) < 8_000 < dataset.labels.data.nbytes + dataset.features.data.nbytes
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        records = run_grid(config, tmp_path / "run", scheduler=cluster.scheduler_address, progress=False)
        with distributed.Client(cluster) as client:
            loads = client.run(lambda: __import__("mlml.experiments.trials").experiments.trials
                               ._dataset.cache_info().misses)
    assert len(records) == 6 and all(r["status"] == "done" for r in records), records[0].get("error")
    assert sorted(loads.values())[-1] == 1 and sum(loads.values()) <= 2  # once per worker that ran a trial
    assert all("psp_at_3" in r["metrics"] for r in records)
    assert {r["method"] for r in records if r["diagnostics"]} == {"cb-wce-noisy-or"}


def test_distinct_label_patterns_of_sparse_labels_without_densifying(monkeypatch):
    import mlml.data.duplicates as duplicates
    from mlml.data.info import _distinct_rows

    rng = np.random.default_rng(0)
    labels = (rng.random((3000, 8)) < 0.3).astype(np.int8)
    assert _distinct_rows(sp.csr_matrix(labels)) == _distinct_rows(labels) == len({r.tobytes() for r in labels})
    # every row hashing alike (a collision everywhere) still counts exactly
    monkeypatch.setattr(duplicates, "label_row_hashes", lambda m: np.zeros(m.shape[0], dtype=np.uint64))
    assert _distinct_rows(sp.csr_matrix(labels)) == len({r.tobytes() for r in labels})


def test_train_and_evaluate_on_xc_data_write_sparse_label_files(tmp_path, capsys):
    from mlml.cli import main
    from mlml.data.xc import read_xc_file, write_xc

    dataset = _sparse_dataset()
    source = f"xc:{write_xc(tmp_path / 'toy.txt', dataset.labels, dataset.features)}"
    out = tmp_path / "model"
    assert main(["train", source, "--method", "pw-bce", "--ratio", "0.5", "--epochs", "2", "--head", "linear",
                 "--out", str(out)]) == 0
    assert not (out / "observed.csv").exists()
    observed, hidden = read_xc_file(out / "observed.txt").labels, read_xc_file(out / "hidden.txt").labels
    fold = make_fold(dataset, ratio=0.5, seed=0, val_fraction=0.1)
    _, want_observed, want_hidden = fold.training_fold()
    assert (observed != want_observed).nnz == 0 and (hidden != want_hidden).nnz == 0 and hidden.nnz > 0
    capsys.readouterr()
    assert main(["evaluate", str(out), source, "--out", str(tmp_path / "m.json")]) == 0
    printed = capsys.readouterr().out
    assert "psp_at_3" in printed and "p_at_1" in printed


@pytest.mark.parametrize("aggregate", ["max", "mean", "noisy-or"])
def test_pairwise_float32_batches_agree_with_float64(aggregate):
    from mlml.weights import ESTIMATORS
    from mlml.weights.pairwise import aggregate_conditionals, indicator

    labels = _sparse_dataset(seed=5).labels.copy()
    labels.data[::11] = -1
    estimator = ESTIMATORS.create(f"pairwise-{aggregate}").fit(labels)
    pos64, neg64 = estimator.transform(labels)
    # the dense table reproduces the sparse sums exactly in float64
    positives = indicator(labels, 1)
    sparse = aggregate_conditionals(estimator.conditional_, estimator.prior_, positives, aggregate)
    table = estimator._table(np.dtype(np.float64))
    np.testing.assert_array_equal(aggregate_conditionals(estimator.conditional_, estimator.prior_, positives,
                                                         aggregate, table=table), sparse)
    pos32, neg32 = estimator.transform(labels[100:180], dtype=np.float32)
    assert neg32.dtype == np.float32 and pos32.dtype == np.float32
    np.testing.assert_allclose(neg32, neg64[100:180], atol=1e-6)
    np.testing.assert_array_equal(pos32, pos64[100:180])
    with pytest.raises(MLMLError, match="dtype"):
        estimator.transform(labels, dtype=np.int8)


def test_a_grid_trial_beyond_the_dense_limit_is_streamed_and_reported(tmp_path, monkeypatch):
    """Beyond DENSE_EVALUATION_ENTRIES a trial has no dense test scores: 0.5 and tuned thresholds only, no
    cardinality or precision-recall curve, and the report still renders (in-process, so the patch applies)."""
    from mlml.data.xc import write_xc
    from mlml.evaluation import streamed
    from mlml.experiments import load_config, run_grid
    from mlml.reports import write_report

    dataset = _sparse_dataset(n=300)
    source = f"xc:{write_xc(tmp_path / 'toy.txt', dataset.labels, dataset.features)}"
    config = load_config(None, datasets=[source], ratios=[0.5], methods=["bce"], folds=2, thresholds="own",
                         train={"epochs": 2, "head": "linear"})
    monkeypatch.setattr(streamed, "DENSE_EVALUATION_ENTRIES", 100)
    with pytest.warns(UserWarning, match="not computed"):
        records = run_grid(config, tmp_path / "run", progress=False)
    assert [r["status"] for r in records] == ["done", "done"], records[0].get("error")
    for record in records:
        assert set(record["metrics_policies"]) == {"tuned"} and record["metrics_tuned"]
        assert record["cardinality"] is None and record["pr_curve"] is None
        assert np.isnan(record["metrics"]["map"]) and "psp_at_3" in record["metrics"]
    report = write_report(records, tmp_path / "run", thresholds="own", figures=True)
    assert "Ranking metrics" in report.with_suffix(".md").read_text(encoding="utf-8")
