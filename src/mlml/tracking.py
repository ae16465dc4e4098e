"""Experiment tracking with MLflow: ``mlml reproduce|train ... --track mlflow[:URI]`` (``pip install 'mlml[mlflow]'``).

What is logged:

* ``mlml reproduce``: one *parent* run per invocation of a grid (its settings as params, the report, results table
  and run files as artifacts) and, nested under it, one *child* run per trial the invocation runs: the trial's key
  (dataset, method with its full definition, ratio, fold, seed, weights source, recipe), the package versions and
  its ids as params; the per-epoch training and validation figures (``train_loss``, ``val_loss``, ``val_score``,
  ``lr``, ``seconds``, step = epoch) and the final metrics (``test_*`` at 0.5, ``test_tuned_*`` at tuned
  thresholds, ``time_*``). A failed trial is a FAILED run, the end of its traceback in the tag ``mlml.error``.
  Trials a re-run skips (already in ``results.sqlite``) are not logged again.
* ``mlml train``: one run: the data set, method, ratio, seed, recipe, every training setting and the versions as
  params, the epochs as they come, the kept epoch's figures, and the model folder's files as artifacts.

Where it is logged from: the parent process, never the trial workers. A record reaches the parent anyway (it
commits it to the results store), so the child run is written from it there: workers neither import MLflow
(seconds per process) nor write one store concurrently (which its SQLite backend does not bear). Trials in
worker processes (``--jobs`` > 1) are not slowed at all; a serial grid pays the writing of each finished record
between trials, about 0.1 s, 2-4 % of a default yeast trial, plus a one-off few seconds to import MLflow
(``benchmarks/bench_tracking.py``). Epochs of ``mlml train`` are logged in batches at most every :data:`FLUSH_S`
seconds, so a fast epoch loop is not slowed.

Where to: the default URI is a file store in the run folder (``RUN_DIR/mlruns``, or ``OUT/mlruns`` for ``mlml
train``): offline, no server, readable with ``MlflowClient("file:RUN_DIR/mlruns")``. MLflow 3 keeps that store in
maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE=true``, which mlml sets for ``file:`` URIs (set it
too when reading the store back in another process). Any other MLflow URI works the same way:
``mlflow:http://host:5000`` (a tracking server), ``mlflow:sqlite:///path/mlflow.db`` (needs SQLAlchemy), a plain
path (a file store there). The experiment is ``$MLFLOW_EXPERIMENT_NAME`` or ``mlml``.

Tracking never stops a grid: a trial whose run cannot be written is named in a warning (its record is safe in the
results store). A tracking URI that cannot be reached at the start fails the command before any training.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlml.exceptions import MLMLError
from mlml.record import TrialRecord

#: Where tracking reports (the run it wrote to, a trial it could not log); the CLI shows its INFO messages.
logger = logging.getLogger("mlml.tracking")

#: ``mlml train`` writes buffered epoch figures at most this often (and once at the end).
FLUSH_S = 5.0
DEFAULT_EXPERIMENT = "mlml"
EPOCH_METRICS = ("train_loss", "val_loss", "val_score", "lr", "seconds")
_MAX_PARAM = 6000  # MLflow's longest parameter value
_MAX_TAG = 5000
_RUN_KEY = ("trial_id", "dataset", "method", "ratio", "fold", "seed", "status")  # a trial run's name and tags
_BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's log_batch limits


@dataclass(frozen=True)
class TrackSpec:
    """A parsed ``--track`` value: the backend (``mlflow``) and its URI (None: the default in the run folder)."""

    backend: str
    uri: str | None = None

    def resolve(self, run_dir: str | os.PathLike[str]) -> str:
        """The tracking URI: the one given (a plain path becomes a ``file:`` URI), else ``RUN_DIR/mlruns``."""
        if self.uri is None:
            return Path(run_dir, "mlruns").resolve().as_uri()
        if len(urlparse(self.uri).scheme) <= 1:  # no scheme, or a Windows drive letter: a path
            return Path(self.uri).expanduser().resolve().as_uri()
        return self.uri


def parse_track(text: str) -> TrackSpec:
    """``mlflow`` or ``mlflow:URI`` -> :class:`TrackSpec`.

    Raises:
        MLMLError: another backend, or an empty URI.
    """
    backend, sep, uri = text.partition(":")
    if backend.strip().lower() != "mlflow":
        raise MLMLError(f"--track takes mlflow or mlflow:URI (e.g. mlflow:http://localhost:5000). Got {text!r}.")
    if sep and not uri.strip():
        raise MLMLError(f"--track {text!r} has an empty URI; write mlflow (the run folder's store) or mlflow:URI.")
    return TrackSpec("mlflow", uri.strip() or None)


class MlflowTracker:
    """Runs of one MLflow experiment at one tracking URI, written through ``MlflowClient``.

    Raises:
        MLMLError: MLflow is not installed, or the URI cannot be reached or used.
    """

    def __init__(self, uri: str, experiment: str | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MLMLError("--track mlflow needs MLflow: pip install 'mlml[mlflow]'") from None
        if uri.startswith("file:"):  # MLflow 3's file store is in maintenance mode: opt in (see the module doc)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.uri = uri
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(self.experiment)
            self.experiment_id = (found.experiment_id if found is not None
                                  else self.client.create_experiment(self.experiment))
        except Exception as exc:  # noqa: BLE001 -- MLflow, HTTP and file errors alike: say which URI failed
            raise MLMLError(f"Cannot use the MLflow tracking URI {uri!r}: {_message(exc)}") from None

    def start(self, name: str, *, parent: str | None = None, tags: Mapping[str, str] | None = None,
              start_time: float | None = None) -> str:
        """Create a run (nested under ``parent``) and return its id."""
        tags = {"mlflow.runName": name, **(tags or {})}
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags,
                                     start_time=None if start_time is None else int(start_time * 1000))
        return run.info.run_id

    def log(self, run_id: str, *, params: Mapping[str, Any] | None = None,
            metrics: Iterable[tuple[str, float, int]] = (), tags: Mapping[str, str] | None = None) -> None:
        """Params, metrics ``(key, value, step)`` (None values left out) and tags, in as few calls as MLflow's
        batch limits allow."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        entries = {
            "params": [Param(k, _param_value(v)) for k, v in (params or {}).items()],
            "metrics": [Metric(k, float(v), now, int(step)) for k, v, step in metrics if _is_number(v)],
            "tags": [RunTag(k, str(v)) for k, v in (tags or {}).items()],
        }
        while any(entries.values()):
            batch = {kind: items[: _BATCH[kind]] for kind, items in entries.items()}
            entries = {kind: items[_BATCH[kind]:] for kind, items in entries.items()}
            self.client.log_batch(run_id, **batch)

    def log_files(self, run_id: str, files: Iterable[Path], artifact_path: str | None = None) -> None:
        """Copy each existing file (or folder) to the run's artifacts."""
        for path in files:
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), artifact_path=_join(artifact_path, path.name))
            elif path.is_file():
                self.client.log_artifact(run_id, str(path), artifact_path=artifact_path)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)


class GridTracking:
    """The tracking of one ``mlml reproduce``: a parent run for the grid, a child run per trial record; does
    nothing without a tracker. Use as a context manager; :meth:`trial` is the runner's ``on_record`` callback."""

    #: The run folder's files attached to the parent run (those that exist).
    REPORT_FILES = ("report.html", "report.md", "results.csv", "figures", "config.yaml", "environment.json",
                    "datasets.json")

    def __init__(self, tracker: MlflowTracker | None, config: Any, run_dir: str | os.PathLike[str]) -> None:
        self.tracker, self.config, self.run_dir = tracker, config, Path(run_dir)
        self.parent: str | None = None
        self.failures = 0

    def __enter__(self) -> GridTracking:
        if self.tracker is not None:
            self.parent = self.tracker.start(f"grid {self.run_dir.name}", tags={"mlml.run_dir": str(self.run_dir)})
            self.tracker.log(self.parent, params=grid_params(self.config))
        return self

    def trial(self, record: Mapping[str, Any]) -> None:
        """Log one finished trial as a child run (a failure to log is warned about, never raised)."""
        if self.tracker is None:
            return
        try:
            log_trial(self.tracker, record, self.parent)
        except Exception as exc:  # noqa: BLE001 -- the record is already in the store; the grid goes on
            self.failures += 1
            logger.warning("warning: trial %s was not logged to MLflow (%s): %s", record.get("trial_id"),
                           self.tracker.uri, _message(exc))

    def report(self) -> None:
        """Attach the report and the run files to the parent run."""
        if self.tracker is not None:
            self.tracker.log_files(self.parent, [self.run_dir / name for name in self.REPORT_FILES])

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.tracker is None or self.parent is None:
            return
        status = "FINISHED" if exc_type is None else "KILLED" if exc_type is KeyboardInterrupt else "FAILED"
        self.tracker.log(self.parent, tags={"mlml.trials_not_logged": str(self.failures)})
        self.tracker.end(self.parent, status)
        logger.info("tracking: MLflow experiment %r at %s, parent run %s", self.tracker.experiment, self.tracker.uri,
                    self.parent)


class TrainTracking:
    """The tracking of one ``mlml train``: one run; :attr:`callbacks` go to ``fit`` (epochs buffered, written at
    most every :data:`FLUSH_S` seconds); does nothing without a tracker."""

    def __init__(self, tracker: MlflowTracker | None, name: str) -> None:
        self.tracker, self.name = tracker, name
        self.params: Mapping[str, Any] = {}
        self.run: str | None = None
        self.pending: list[tuple[str, float, int]] = []
        self.flushed = time.monotonic()

    @property
    def callbacks(self) -> tuple[Any, ...]:
        return () if self.tracker is None else (self.epoch,)

    def start(self, params: Mapping[str, Any]) -> TrainTracking:
        """Set the run's params and return self, to enter."""
        self.params = params
        return self

    def __enter__(self) -> TrainTracking:
        if self.tracker is not None:
            self.run = self.tracker.start(self.name)
            self.tracker.log(self.run, params=self.params)
        return self

    def epoch(self, record: Mapping[str, float]) -> None:
        self.pending += epoch_metrics(record)
        if time.monotonic() - self.flushed >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.tracker.log(self.run, metrics=self.pending)
        self.pending, self.flushed = [], time.monotonic()

    def finish(self, result: Any, files: Sequence[Path]) -> None:
        """The last epochs, the kept epoch's figures and the model folder's files (as artifacts under model/)."""
        if self.tracker is None:
            return
        self.flush()
        best = result.history[result.best_epoch] if result.history else {}
        final = [("best_epoch", result.best_epoch, 0), ("epochs", len(result.history), 0)]
        final += [(f"best_{key}", best.get(key), 0) for key in ("val_score", "val_loss", "train_loss")]
        self.tracker.log(self.run, metrics=final)
        self.tracker.log_files(self.run, files, artifact_path="model")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.tracker is not None and self.run is not None:
            self.tracker.end(self.run, "FINISHED" if exc_type is None else "FAILED")
            logger.info("tracking: MLflow experiment %r at %s, run %s", self.tracker.experiment, self.tracker.uri,
                        self.run)


def grid_tracking(spec: TrackSpec | None, config: Any, run_dir: str | os.PathLike[str]) -> GridTracking:
    """The tracking of a grid run into ``run_dir`` (a no-op for ``spec=None``); reaches the URI now."""
    return GridTracking(None if spec is None else MlflowTracker(spec.resolve(run_dir)), config, run_dir)


def train_tracking(spec: TrackSpec | None, out_dir: str | os.PathLike[str], name: str) -> TrainTracking:
    """The tracking of an ``mlml train`` writing ``out_dir`` (a no-op for ``spec=None``); reaches the URI now."""
    return TrainTracking(None if spec is None else MlflowTracker(spec.resolve(out_dir)), name)


def log_trial(tracker: MlflowTracker, record: TrialRecord | Mapping[str, Any], parent: str | None) -> str:
    """One trial record (:class:`mlml.record.TrialRecord`, or a dict of its fields holding at least the trial's
    key) as a run nested under ``parent``; returns the run id."""
    missing = [key for key in _RUN_KEY if key not in record]
    if missing:
        raise MLMLError(f"trial record {record.get('trial_id')!r} lacks {', '.join(missing)}; it cannot be logged.")
    record = TrialRecord.from_dict(record)
    timings = record.timings or {}
    took = sum(v for v in timings.values() if _is_number(v))
    name = f"{record.dataset} {record.method} r={record.ratio} fold={record.fold} seed={record.seed}"
    run = tracker.start(name, parent=parent, start_time=time.time() - took,
                        tags={"mlml.trial_id": record.trial_id, "mlml.status": record.status})
    params = {key: getattr(record, key) for key in ("dataset", "method", "ratio", "fold", "seed", "weights_source",
                                                    "recipe", "trial_id", "config_hash", "data_fingerprint",
                                                    "n_train", "n_test", "oracle")}
    for key, value in (record.method_definition or {}).items():
        params[f"method.{key}"] = value
    for package, version in (record.versions or {}).items():
        params[f"version.{package}"] = version
    metrics = [m for row in record.history or () for m in epoch_metrics(row)]
    metrics += [(f"test_{k}", v, 0) for k, v in (record.metrics or {}).items()]
    metrics += [(f"test_tuned_{k}", v, 0) for k, v in (record.metrics_tuned or {}).items()]
    metrics += [(f"time_{k}", v, 0) for k, v in timings.items()]
    metrics += [("epochs", record.epochs, 0), ("best_val_score", record.val_score, 0)]
    tags = {"mlml.error": str(record.error)[-_MAX_TAG:]} if record.error else None  # the traceback's end
    tracker.log(run, params={k: v for k, v in params.items() if v is not None}, metrics=metrics, tags=tags)
    tracker.end(run, "FINISHED" if record.status == "done" else "FAILED")
    return run


def epoch_metrics(record: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """One epoch's history record as ``(key, value, step)`` metrics."""
    step = int(record.get("epoch", 0))
    return [(key, record[key], step) for key in EPOCH_METRICS if _is_number(record.get(key))]


def grid_params(config: Any) -> dict[str, Any]:
    """A grid's settings as flat params: its fields, and every training setting of its trials as ``train.*``."""
    from mlml.experiments.trials import package_versions

    params = {key: value for key, value in config.to_dict().items() if key != "train"}
    params["config_hash"] = config.trial_hash()
    train = config.train_config(config.seeds[0]).to_dict()
    params.update({f"train.{key}": value for key, value in train.items() if key != "seed"})
    params.update({f"version.{name}": version for name, version in package_versions().items()})
    return params


def train_params(source: str, dataset: Any, method: Any, config: Any, **extra: Any) -> dict[str, Any]:
    """An ``mlml train`` run's params: the data, the method's definition, the settings and the versions."""
    from mlml.experiments.trials import package_versions

    params: dict[str, Any] = {"source": source, "dataset": dataset.name, "method": method.name,
                              "n_samples": dataset.n_samples, **extra}
    params.update({f"method.{key}": value for key, value in method.definition().items()})
    params.update({f"train.{key}": value for key, value in config.to_dict().items()})
    params.update({f"version.{name}": version for name, version in package_versions().items()})
    return params


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 12] + " [truncated]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _join(prefix: str | None, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _message(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
