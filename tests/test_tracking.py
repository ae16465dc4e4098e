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
from mlml.mlflow_client import MlflowTracker, TrackSpec, parse_track, track_spec
from mlml.tracking import (
    DECISION_METRICS,
    GridTracking,
    TrainTracking,
    aggregate_metrics,
    log_trial,
)


def test_parse_track():
    assert parse_track("mlflow") == TrackSpec("mlflow", None)
    assert parse_track("mlflow:http://localhost:5000") == TrackSpec("mlflow", "http://localhost:5000")
    assert parse_track("mlflow:sqlite:///x.db").uri == "sqlite:///x.db"
    for bad in ("wandb", "mlflow:", "", "mlflowx:abc"):
        with pytest.raises(MLMLError, match="--track"):
            parse_track(bad)


def test_track_uri_defaults_to_mlflows_own_default(tmp_path, monkeypatch):
    """No URI: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder, as MLflow 3 itself defaults."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert TrackSpec("mlflow").resolve() == f"sqlite:///{tmp_path.resolve().as_posix()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert TrackSpec("mlflow").resolve() == "http://tracking:5000"
    assert TrackSpec("mlflow", "elsewhere/store").resolve() == (tmp_path / "elsewhere" / "store").resolve().as_uri()
    assert TrackSpec("mlflow", "runs/x.db").resolve() == f"sqlite:///{(tmp_path / 'runs' / 'x.db').resolve()}"
    assert TrackSpec("mlflow", "http://host:5000").resolve() == "http://host:5000"


def test_tracking_uri_flag_and_track_agree():
    assert track_spec(None, None) is None
    assert track_spec(None, "sqlite:///a.db") == TrackSpec("mlflow", "sqlite:///a.db")  # --tracking-uri alone
    assert track_spec(TrackSpec("mlflow"), None) == TrackSpec("mlflow")
    assert track_spec(TrackSpec("mlflow", "x"), "x") == TrackSpec("mlflow", "x")
    with pytest.raises(MLMLError, match="two stores"):
        track_spec(TrackSpec("mlflow", "x"), "y")
    with pytest.raises(MLMLError, match="--tracking-uri is empty"):
        track_spec(None, " ")


def test_default_store_needs_nothing_beyond_the_mlflow_extra():
    """The default store (SQLite) is opened by SQLAlchemy with Alembic's migrations: the mlflow extra installs
    both, and a trained model's pyfunc flavour needs pandas, which it installs too."""
    import tomllib

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    wanted = {req.split(">")[0].split("=")[0].split("[")[0].strip().lower()
              for req in extras["project"]["optional-dependencies"]["mlflow"]}
    assert {"sqlalchemy", "alembic", "pandas"} <= wanted and wanted & {"mlflow", "mlflow-skinny"}


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

    def log_model(self, run, model_dir, artifact_path="model", example=None):
        self.calls.append(("model", model_dir.name, artifact_path))

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
        tracking.finish(Result(), Path("out"), [Path("observed.csv")])
    epochs = recorder.calls[2][2]
    assert [m for m in epochs if m[0] == "train_loss"] == [("train_loss", 1.0 / (e + 1), e) for e in range(4)]
    assert ("best_val_score", pytest.approx(0.3), 0) in recorder.calls[3][2]
    assert recorder.calls[-3:] == [("model", "out", "model"), ("files", ["observed.csv"], "labels"),
                                   ("end", "FINISHED")]

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

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # reading a file store (see mlml.tracking)

    def client(uri: str):
        c = MlflowClient(tracking_uri=uri)
        experiment = c.get_experiment_by_name("mlml")
        return c, c.search_runs([experiment.experiment_id], max_results=1000)

    return client


def _stored(run_dir: Path) -> dict[str, dict]:
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        return {r["trial_id"]: r for r in (json.loads(row[0]) for row in conn.execute("SELECT record FROM trials"))}


def test_reproduce_logs_a_parent_and_one_child_run_per_trial(tmp_path, mlflow_client, monkeypatch):
    import mlflow

    from mlml.evaluation.policies import POLICIES
    from mlml.reports import RESULT_METRICS, summarize

    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    store = f"sqlite:///{tmp_path.as_posix()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # what mlml and the user's MLflow both read
    run_dir = tmp_path / "run"
    argv = ["reproduce", "yeast", "--methods", "bce,cb-wce", "--ratios", "0.5", "--folds", "2", "--epochs", "3",
            "--thresholds", "all", "--out", str(run_dir), "--no-progress", "--track", "mlflow"]  # select measured
    assert main(argv) == 0
    assert not (run_dir / "mlruns").exists() and (tmp_path / "mlflow.db").is_file()

    # the user's own MLflow: every policy's metrics on every child run, the aggregates on the parent
    frame = mlflow.search_runs(experiment_names=["mlml"])
    stored = _stored(run_dir)
    children = frame[frame["tags.mlflow.parentRunId"].notna()]
    assert sorted(children["tags.mlml.trial_id"]) == sorted(stored) and len(stored) == 4
    for _, child in children.iterrows():
        record = stored[child["tags.mlml.trial_id"]]
        assert set(record["metrics_policies"]) == set(POLICIES)
        for policy in POLICIES:
            for metric in DECISION_METRICS:
                assert child[f"metrics.test_{policy}_{metric}"] == pytest.approx(
                    record["metrics_policies"][policy][metric], nan_ok=True), (policy, metric)
    parent_row = frame[frame["tags.mlflow.parentRunId"].isna()]
    assert len(parent_row) == 1
    rows = summarize(list(stored.values()), thresholds="all")
    assert {row["threshold"] for row in rows} == set(POLICIES) and len(rows) == 2 * len(POLICIES)
    for row in rows:
        prefix = f"metrics.yeast/{row['method']}/r0.5/{row['threshold']}"
        assert parent_row[f"{prefix}/n_folds"].item() == 2
        for metric in RESULT_METRICS:
            assert parent_row[f"{prefix}/{metric}_mean"].item() == pytest.approx(row[f"{metric}_mean"])
            assert parent_row[f"{prefix}/{metric}_std"].item() == pytest.approx(row[f"{metric}_std"])

    client, runs = mlflow_client(store)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.data.params["folds"] == "2" and json.loads(parent.data.params["methods"]) == ["bce", "cb-wce"]
    assert parent.data.params["train.epochs"] == "3"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "results.csv", "config.yaml", "figures", "aggregates.json"} <= artifacts

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


def test_train_logs_one_run_with_an_mlflow_model(tmp_path, mlflow_client, monkeypatch):
    """``mlml train --tracking-uri``: one run in the store the user chose; the model is an MLflow model whose
    pyfunc predicts named probabilities and decisions equal to mlml's own."""
    import mlflow
    import numpy as np

    from mlml.data import load
    from mlml.training import load_model

    out, store = tmp_path / "model", f"sqlite:///{(tmp_path / 'elsewhere' / 'mlflow.db').as_posix()}"
    argv = ["train", "yeast", "--out", str(out), "--ratio", "0.5", "--epochs", "3", "--method", "cb-wce",
            "--thresholds", "tuned", "--tracking-uri", store]
    assert main(argv) == 0
    assert not (out / "mlruns").exists()
    client, runs = mlflow_client(store)
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
    assert run.info.artifact_uri.startswith((tmp_path / "elsewhere" / "mlruns").as_uri())  # beside the store
    labels = {a.path for a in client.list_artifacts(run.info.run_id, "labels")}
    assert labels == {"labels/observed.csv", "labels/hidden.csv"}
    model_files = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/MLmodel", "model/artifacts"} <= model_files
    carried = {a.path for a in client.list_artifacts(run.info.run_id, "model/artifacts/mlml-model")}
    assert carried == {"model/artifacts/mlml-model/model.pt", "model/artifacts/mlml-model/model.json"}

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    X = load("yeast").features[:7]
    frame = pyfunc.predict(X)
    names = meta["label_names"]
    assert list(frame.columns) == [f"proba:{n}" for n in names] + [f"decision:{n}" for n in names]
    mine = load_model(out)
    assert mine.decision is not None or mine.thresholds is not None  # tuned thresholds travel with the model
    np.testing.assert_allclose(frame[[f"proba:{n}" for n in names]].to_numpy(), mine.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(frame[[f"decision:{n}" for n in names]].to_numpy(), mine.predict(X))
    assert pyfunc.metadata.get_input_schema() is not None  # the signature, from the training rows


def test_an_unusable_uri_fails_before_training(tmp_path, mlflow_client, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = ["reproduce", "yeast", "--methods", "bce", "--ratios", "0.5", "--folds", "2", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--no-progress", "--track", f"mlflow:{blocker}/store"]
    assert main(argv) == 2
    assert "Cannot use the MLflow tracking URI" in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.sqlite").exists()


def test_sklearn_autolog_with_a_grid_search(tmp_path, monkeypatch):
    """``mlflow.sklearn.autolog()`` around a ``GridSearchCV`` of ``MissingLabelClassifier`` completes: a parent run
    with the best parameters and score, one child run per candidate with its parameters."""
    mlflow = pytest.importorskip("mlflow")
    import numpy as np
    from sklearn.model_selection import GridSearchCV

    from mlml.sklearn import MissingLabelClassifier, masked_map_scorer

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    monkeypatch.chdir(tmp_path)  # MLflow's own experiments keep their artifacts in ./mlruns
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 6)).astype("float32")
    Y = (X[:, :3] + 0.5 * rng.normal(size=(160, 3)) > 0).astype("int8")
    Y[:30, 0] = -1  # unknown entries
    mlflow.sklearn.autolog(log_models=False, log_datasets=False)
    try:
        search = GridSearchCV(
            MissingLabelClassifier(head="mlp", epochs=2, num_threads=1),
            {"method": ["bce", "cb-wce"], "hidden_sizes": [(8,), (16, 8)], "head_kwargs": [{"dropout": 0.1}]},
            cv=2, scoring=masked_map_scorer,
        ).fit(X, Y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    frame = mlflow.search_runs(search_all_experiments=True)
    parent = frame[frame["tags.mlflow.parentRunId"].isna()]
    children = frame[frame["tags.mlflow.parentRunId"].notna()]
    assert len(parent) == 1 and len(children) == 4
    assert parent["params.best_method"].item() == search.best_params_["method"]
    assert parent["metrics.best_cv_score"].item() == pytest.approx(search.best_score_)
    assert set(children["params.hidden_sizes"]) == {"(8,)", "(16, 8)"}


def test_aggregate_metric_keys_are_ones_mlflow_accepts():
    rows = [{"dataset": "scene (mulan)", "method": "cb-wce", "ratio": 0.5, "threshold": "tuned", "n_folds": 3,
             "weights_source": "complete", "micro_f1_mean": 0.61, "micro_f1_std": 0.02}]
    metrics = dict((key, value) for key, value, _ in aggregate_metrics(rows))
    assert metrics["scene _mulan_/cb-wce.complete-weights/r0.5/tuned/micro_f1_mean"] == 0.61
    assert metrics["scene _mulan_/cb-wce.complete-weights/r0.5/tuned/n_folds"] == 3
    assert metrics["scene _mulan_/cb-wce.complete-weights/r0.5/tuned/map_mean"] is None  # left out when logged
