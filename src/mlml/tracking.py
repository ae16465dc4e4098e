"""Experiment tracking with MLflow: ``mlml reproduce|train ... --track mlflow [--tracking-uri URI]``
(``pip install 'mlml[mlflow]'``).

What is logged:

* ``mlml reproduce``: one *parent* run per invocation of a grid and, nested under it, one *child* run per trial
  the invocation runs.

  - A child run: the trial's key (dataset, method with its full definition, ratio, fold, seed, weights source,
    recipe), the package versions and its ids as params; the per-epoch training and validation figures
    (``train_loss``, ``val_loss``, ``val_score``, ``lr``, ``seconds``, step = epoch); the test metrics at 0.5,
    ``test_<metric>`` (every metric, the ranking ones included); the decision metrics of every threshold policy
    the trial measured, ``test_<policy>_<metric>`` (:data:`DECISION_METRICS`: micro and macro precision, recall
    and F1; the policies ``fixed`` = 0.5, ``tuned``, ``expected``, ``calibrated``, ``cardinality``, ``pu``:
    :data:`mlml.evaluation.policies.POLICIES`); and ``time_*``. A failed trial
    is a FAILED run, the end of its traceback in the tag ``mlml.error``. Trials a re-run skips (already in
    ``results.sqlite``) are not logged again.
  - The parent run: the grid's settings as params; the aggregates over folds of the trials the run folder holds,
    one metric per data set, method, ratio, policy and metric, ``<dataset>/<method>/r<ratio>/<policy>/<metric>``
    with the suffix ``_mean`` or ``_std`` (:func:`aggregate_metrics`; the table itself as the artifact
    ``aggregates.json``); the report (``report.html`` with its figures), ``results.csv`` and the run's files as
    artifacts.
* ``mlml train``: one run: the data set, method, ratio, seed, recipe, every training setting and the versions as
  params, the epochs as they come, the kept epoch's figures, the model as an MLflow model (artifact ``model``, a
  ``pyfunc`` flavour: ``mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(X)`` returns the named
  probabilities and decisions, see :mod:`mlml.mlflow_model`) and the training labels (artifacts under
  ``labels/``).

Where it is logged from: the parent process, never the trial workers. A record reaches the parent anyway (it
commits it to the results store), so the child run is written from it there: workers neither import MLflow
(seconds per process) nor write one store concurrently (which its SQLite backend does not bear). Trials in
worker processes (``--jobs`` > 1) are not slowed at all; a serial grid pays the writing of each finished record
between trials (``benchmarks/bench_tracking.py``). Epochs of ``mlml train`` are logged in batches at most every
:data:`FLUSH_S` seconds, so a fast epoch loop is not slowed.

Where to: one store, the same for ``grid`` and ``train``: ``--tracking-uri URI`` (or ``--track mlflow:URI``),
else ``$MLFLOW_TRACKING_URI``, else what MLflow 3 itself defaults to, a SQLite database ``mlflow.db`` in the
current folder (``sqlite:///mlflow.db``, made absolute): the store that ``mlflow ui``, ``mlflow server`` and
``mlflow.search_runs()`` open there by default, so a user's own tools read it without settings. It needs
SQLAlchemy and Alembic, which the ``mlflow`` extra installs. A plain path is a store there: a SQLite database
for a name ending in ``.db``, else a file store (which MLflow 3 keeps in maintenance mode and refuses unless
``MLFLOW_ALLOW_FILE_STORE=true``; mlml sets it for ``file:`` URIs, set it too when reading one back). Any other
MLflow URI works the same way (``http://host:5000``, a tracking server). The experiment is
``$MLFLOW_EXPERIMENT_NAME`` or ``mlml``.

Tracking never stops a grid: a trial whose run cannot be written is named in a warning (its record is safe in the
results store). A tracking URI that cannot be reached at the start fails the command before any training.

This module decides what is logged and when; the store (``--track``, ``--tracking-uri``) and the wrapper of
``MlflowClient`` that writes it are :mod:`mlml.mlflow_client`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlml.exceptions import MLMLError
from mlml.mlflow_client import MlflowTracker, TrackSpec, _is_number, _message
from mlml.record import TrialRecord

#: Where tracking reports (the run it wrote to, a trial it could not log); the CLI shows its INFO messages.
logger = logging.getLogger("mlml.tracking")

#: ``mlml train`` writes buffered epoch figures at most this often (and once at the end).
FLUSH_S = 5.0
EPOCH_METRICS = ("train_loss", "val_loss", "val_score", "lr", "seconds")
#: The metrics a threshold policy changes, logged per policy (``test_<policy>_<metric>``); the ranking ones (mAP,
#: AUC, P@k, ...) are the same under every policy and logged once (``test_<metric>``).
DECISION_METRICS = ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1")
_MAX_TAG = 5000
_KEY_UNSAFE = re.compile(r"[^\w\-. /:]")  # what MLflow refuses in a metric's key
_RUN_KEY = ("trial_id", "dataset", "method", "ratio", "fold", "seed", "status")  # a trial run's name and tags


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

    def report(self, records: Sequence[Mapping[str, Any]] = ()) -> None:
        """Log the aggregates of ``records`` (every trial of the run folder: :func:`aggregate_metrics`) and attach
        the report and the run files to the parent run."""
        if self.tracker is None:
            return
        rows = aggregate_rows(records)
        self.tracker.log(self.parent, metrics=aggregate_metrics(rows))
        self.tracker.log_dict(self.parent, rows, "aggregates.json")
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

    def finish(self, result: Any, model_dir: Path, label_files: Sequence[Path] = (), example: Any = None) -> None:
        """The last epochs, the kept epoch's figures, the model folder as an MLflow model (artifact ``model``;
        ``example``: a few input rows, to record the model's signature) and the label files (under
        ``labels/``)."""
        if self.tracker is None:
            return
        self.flush()
        best = result.history[result.best_epoch] if result.history else {}
        final = [("best_epoch", result.best_epoch, 0), ("epochs", len(result.history), 0)]
        final += [(f"best_{key}", best.get(key), 0) for key in ("val_score", "val_loss", "train_loss")]
        self.tracker.log(self.run, metrics=final)
        self.tracker.log_model(self.run, Path(model_dir), "model", example=example)
        self.tracker.log_files(self.run, label_files, artifact_path="labels")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.tracker is not None and self.run is not None:
            self.tracker.end(self.run, "FINISHED" if exc_type is None else "FAILED")
            logger.info("tracking: MLflow experiment %r at %s, run %s", self.tracker.experiment, self.tracker.uri,
                        self.run)


def grid_tracking(spec: TrackSpec | None, config: Any, run_dir: str | os.PathLike[str]) -> GridTracking:
    """The tracking of a grid run into ``run_dir`` (a no-op for ``spec=None``); reaches the URI now."""
    return GridTracking(None if spec is None else MlflowTracker(spec.resolve()), config, run_dir)


def train_tracking(spec: TrackSpec | None, name: str) -> TrainTracking:
    """The tracking of an ``mlml train`` (a no-op for ``spec=None``); reaches the URI now."""
    return TrainTracking(None if spec is None else MlflowTracker(spec.resolve()), name)


def log_trial(tracker: MlflowTracker, record: TrialRecord | Mapping[str, Any], parent: str | None) -> str:
    """One trial record (:class:`mlml.record.TrialRecord`, or a dict of its fields holding at least the trial's
    key) as a run nested under ``parent``; returns the run id."""
    missing = [key for key in _RUN_KEY if key not in record]
    if missing:
        raise MLMLError(f"trial record {record.get('trial_id')!r} lacks {', '.join(missing)}; it cannot be logged.")
    from mlml.reports.tables import policy_metrics

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
    for policy, values in policy_metrics(record).items():  # fixed (0.5), tuned and every other fitted policy
        metrics += [(f"test_{policy}_{k}", values[k], 0) for k in DECISION_METRICS if k in values]
    metrics += [(f"time_{k}", v, 0) for k, v in timings.items()]
    metrics += [("epochs", record.epochs, 0), ("best_val_score", record.val_score, 0)]
    tags = {"mlml.error": str(record.error)[-_MAX_TAG:]} if record.error else None  # the traceback's end
    tracker.log(run, params={k: v for k, v in params.items() if v is not None}, metrics=metrics, tags=tags)
    tracker.end(run, "FINISHED" if record.status == "done" else "FAILED")
    return run


def aggregate_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The results table of ``records`` over every threshold policy they hold (:func:`mlml.reports.summarize`
    with ``thresholds="all"``), NaN as None: one row per data set, method, ratio, weights source and policy."""
    from mlml.reports import summarize

    if not records:
        return []
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in summarize(records, thresholds="all")]


def aggregate_metrics(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float, int]]:
    """:func:`aggregate_rows` as parent-run metrics: ``<dataset>/<series>/r<ratio>/<policy>/<metric>_mean`` and
    ``..._std`` for the results table's metrics (:data:`mlml.reports.RESULT_METRICS`), and ``.../n_folds``. The
    series is the method, with ``.complete-weights`` for the seed code's leak; MLflow's key alphabet (letters,
    digits, ``_ - . / :`` and space) holds every registered method name."""
    from mlml.reports import RESULT_METRICS

    out = []
    for row in rows:
        series = row["method"] + ("" if row.get("weights_source", "observed") == "observed"
                                  else f".{row['weights_source']}-weights")
        prefix = _KEY_UNSAFE.sub("_", f"{row['dataset']}/{series}/r{row['ratio']:g}/{row['threshold']}")
        out.append((f"{prefix}/n_folds", row["n_folds"], 0))
        out += [(f"{prefix}/{metric}_{stat}", row.get(f"{metric}_{stat}"), 0)
                for metric in RESULT_METRICS for stat in ("mean", "std")]
    return out


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
