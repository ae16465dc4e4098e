"""Experiment tracking with MLflow: --track parsing, and runs written by `mlml reproduce`/`mlml train`, read back
through MLflow's own client."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from mlml.cli import main
from mlml.exceptions import MLMLError
from mlml.tracking import GridTracking, MlflowTracker, TrackSpec, TrainTracking, log_trial, parse_track


def test_parse_track():
    assert parse_track("mlflow") == TrackSpec("mlflow", None)
    assert parse_track("mlflow:http://localhost:5000") == TrackSpec("mlflow", "http://localhost:5000")
    assert parse_track("mlflow:sqlite:///x.db").uri == "sqlite:///x.db"
    for bad in ("wandb", "mlflow:", "", "mlflowx:abc"):
        with pytest.raises(MLMLError, match="--track"):
            parse_track(bad)


def test_track_uri_defaults_to_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert TrackSpec("mlflow").resolve("runs/a") == (tmp_path / "runs" / "a" / "mlruns").as_uri()
    assert TrackSpec("mlflow", "elsewhere/store").resolve("runs/a") == (tmp_path / "elsewhere" / "store").as_uri()
    assert TrackSpec("mlflow", "http://host:5000").resolve("runs/a") == "http://host:5000"


def test_bad_track_flag_is_a_usage_error(capsys):
    assert main(["reproduce", "--track", "wandb"]) == 2
    assert "--track takes mlflow or mlflow:URI" in capsys.readouterr().err


def test_missing_mlflow_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(MLMLError, match=r"pip install 'mlml\[mlflow\]'"):
        MlflowTracker(tmp_path.as_uri())


class _Recorder:
    """A tracker that records its calls (what TrainTracking writes, and when)."""

    uri, experiment = "memory:", "test"

    def __init__(self):
        self.calls = []

    def start(self, name, **kwargs):
        self.calls.append(("start", name))
        return "run"

    def log(self, run, *, params=None, metrics=(), tags=None):
        self.calls.append(("log", dict(params or {}), list(metrics)))

    def log_files(self, run, files, artifact_path=None):
        self.calls.append(("files", [f.name for f in files], artifact_path))

    def end(self, run, status="FINISHED"):
        self.calls.append(("end", status))


def test_train_tracking_buffers_epochs(monkeypatch):
    import mlml.tracking

    class Result:
        history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_score": 0.1 * e, "lr": 1e-3} for e in range(4)]
        best_epoch = 3

    recorder = _Recorder()
    monkeypatch.setattr(mlml.tracking, "FLUSH_S", 3600.0)
    with TrainTracking(recorder, "run").start({"method": "bce"}) as tracking:
        for record in Result.history:
            tracking.epoch(record)
        assert [c[0] for c in recorder.calls] == ["start", "log"]  # nothing written per epoch
        tracking.finish(Result(), [Path("model.pt")])
    epochs = recorder.calls[2][2]
    assert [m for m in epochs if m[0] == "train_loss"] == [("train_loss", 1.0 / (e + 1), e) for e in range(4)]
    assert ("best_val_score", pytest.approx(0.3), 0) in recorder.calls[3][2]
    assert recorder.calls[-2] == ("files", ["model.pt"], "model") and recorder.calls[-1] == ("end", "FINISHED")

    recorder = _Recorder()
    monkeypatch.setattr(mlml.tracking, "FLUSH_S", 0.0)
    with TrainTracking(recorder, "run").start({}) as tracking:
        for record in Result.history:
            tracking.epoch(record)
    assert [c[0] for c in recorder.calls] == ["start", "log"] + ["log"] * 4 + ["end"]


def test_no_tracking_does_nothing(tmp_path):
    tracking = GridTracking(None, None, tmp_path)
    with tracking:
        tracking.trial({"trial_id": "x"})
        tracking.report()
    assert not any(tmp_path.iterdir())
    assert TrainTracking(None, "x").callbacks == ()


# -- with MLflow: runs written by the CLI, read back through MLflow's client

@pytest.fixture(scope="module")
def mlflow_client():
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'mlml[mlflow]')")
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # reading mlml's default store (see mlml.tracking)

    def client(uri: str):
        c = MlflowClient(tracking_uri=uri)
        experiment = c.get_experiment_by_name("mlml")
        return c, c.search_runs([experiment.experiment_id], max_results=1000)

    return client


def _stored(run_dir: Path) -> dict[str, dict]:
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        return {r["trial_id"]: r for r in (json.loads(row[0]) for row in conn.execute("SELECT record FROM trials"))}


def test_reproduce_logs_a_parent_and_one_child_run_per_trial(tmp_path, mlflow_client, monkeypatch):
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    run_dir = tmp_path / "run"
    argv = ["reproduce", "yeast", "--methods", "bce,cb-wce", "--ratios", "0.5", "--folds", "2", "--epochs", "3",
            "--out", str(run_dir), "--no-progress", "--track", "mlflow"]
    assert main(argv) == 0
    client, runs = mlflow_client((run_dir / "mlruns").as_uri())
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.data.params["folds"] == "2" and json.loads(parent.data.params["methods"]) == ["bce", "cb-wce"]
    assert parent.data.params["train.epochs"] == "3"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "results.csv", "config.yaml", "figures"} <= artifacts

    children = {r.data.tags["mlml.trial_id"]: r for r in runs if r.data.tags.get("mlflow.parentRunId")}
    stored = _stored(run_dir)
    assert set(children) == set(stored) and len(stored) == 4
    for trial_id, record in stored.items():
        run = children[trial_id]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.info.status == "FINISHED"
        params = run.data.params
        assert (params["dataset"], params["method"], float(params["ratio"]), int(params["fold"]),
                int(params["seed"]), params["recipe"]) == (record["dataset"], record["method"], record["ratio"],
                                                           record["fold"], record["seed"], record["recipe"])
        definition = record["method_definition"]
        assert params["method.loss"] == definition["loss"] and params["method.estimator"] == definition["estimator"]
        assert params["version.torch"] == record["versions"]["torch"]
        assert run.data.metrics["test_map"] == pytest.approx(record["metrics"]["map"])
        assert run.data.metrics["test_tuned_micro_f1"] == pytest.approx(record["metrics_tuned"]["micro_f1"])
        history = sorted(client.get_metric_history(run.info.run_id, "val_score"), key=lambda m: m.step)
        assert [m.step for m in history] == [h["epoch"] for h in record["history"]]
        assert [m.value for m in history] == pytest.approx([h["val_score"] for h in record["history"]])
        assert len(record["history"]) == 3


def test_a_failed_trial_is_a_failed_run_and_logging_errors_do_not_stop_the_grid(tmp_path, mlflow_client, caplog):
    tracker = MlflowTracker((tmp_path / "store").as_uri())
    record = {"trial_id": "t1", "dataset": "yeast", "method": "bce", "ratio": 0.5, "fold": 0, "seed": 0,
              "status": "failed", "error": "Traceback ...\nValueError: boom", "timings": {}, "metrics": {},
              "versions": {"mlml": "0.1.0"}, "method_definition": {"loss": "bce"}}
    run_id = log_trial(tracker, record, None)
    client, runs = mlflow_client((tmp_path / "store").as_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["mlml.error"].endswith("ValueError: boom")

    tracking = GridTracking(tracker, None, tmp_path)
    tracking.parent = tracker.start("parent")
    tracking.trial({"trial_id": "t2"})  # no key fields: cannot be logged
    with caplog.at_level(logging.WARNING, logger="mlml.tracking"):
        tracking.trial({"trial_id": "t3"})
    assert tracking.failures == 2
    assert "trial t3 was not logged to MLflow" in caplog.text  # a logged warning, not a print (the CLI shows it)


def test_train_logs_one_run_with_the_model_folder(tmp_path, mlflow_client):
    out, store = tmp_path / "model", tmp_path / "elsewhere"
    argv = ["train", "yeast", "--out", str(out), "--ratio", "0.5", "--epochs", "3", "--method", "cb-wce",
            "--track", f"mlflow:{store}"]
    assert main(argv) == 0
    assert not (out / "mlruns").exists()
    client, runs = mlflow_client(store.as_uri())
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["method"] == "cb-wce" and run.data.params["method.estimator"] == "pattern"
    assert run.data.params["ratio"] == "0.5" and run.data.params["train.epochs"] == "3"
    meta = json.loads((out / "model.json").read_text())
    losses = sorted(client.get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)
    assert [m.step for m in losses] == [h["epoch"] for h in meta["history"]]
    assert [m.value for m in losses] == pytest.approx([h["train_loss"] for h in meta["history"]])
    assert run.data.metrics["best_epoch"] == meta["best_epoch"]
    files = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert files == {"model/model.pt", "model/model.json", "model/observed.csv", "model/hidden.csv"}


def test_an_unusable_uri_fails_before_training(tmp_path, mlflow_client, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = ["reproduce", "yeast", "--methods", "bce", "--ratios", "0.5", "--folds", "2", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--no-progress", "--track", f"mlflow:{blocker}/store"]
    assert main(argv) == 2
    assert "Cannot use the MLflow tracking URI" in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.sqlite").exists()
