"""The MLflow side of tracking: which store (``--track``, ``--tracking-uri``) and a thin wrapper of ``MlflowClient``.

:class:`TrackSpec` is a parsed ``--track`` value and resolves the store's URI (:func:`default_uri` where none is
given; the rules are in :mod:`mlml.tracking`'s docstring); :class:`MlflowTracker` opens one experiment at one URI
and writes runs, params, metrics, tags and artifacts in as few calls as MLflow's batch limits allow. What is logged
and when (the grid's parent and child runs, a training run's epochs) is :mod:`mlml.tracking`'s job. MLflow itself
is imported only when a tracker is made (``pip install 'mlml[mlflow]'``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlml.exceptions import MLMLError

DEFAULT_EXPERIMENT = "mlml"
_MAX_PARAM = 6000  # MLflow's longest parameter value
_BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's log_batch limits


@dataclass(frozen=True)
class TrackSpec:
    """A parsed ``--track`` value: the backend (``mlflow``) and its URI (None: :func:`default_uri`)."""

    backend: str
    uri: str | None = None

    def resolve(self) -> str:
        """The tracking URI: the one given (a plain path becomes a store there: ``*.db`` a SQLite database, else
        a file store), else :func:`default_uri`."""
        if self.uri is None:
            return default_uri()
        if len(urlparse(self.uri).scheme) <= 1:  # no scheme, or a Windows drive letter: a path
            path = Path(self.uri).expanduser().resolve()
            return f"sqlite:///{path.as_posix()}" if path.suffix == ".db" else path.as_uri()
        return self.uri


def default_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else MLflow 3's own default: ``sqlite:///mlflow.db`` in the current folder (as
    ``mlflow.get_tracking_uri()`` gives it, absolute)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path.cwd() / 'mlflow.db').as_posix()}"


def parse_track(text: str) -> TrackSpec:
    """``mlflow`` or ``mlflow:URI`` -> :class:`TrackSpec`.

    Raises:
        MLMLError: another backend, or an empty URI.
    """
    backend, sep, uri = text.partition(":")
    if backend.strip().lower() != "mlflow":
        raise MLMLError(f"--track takes mlflow or mlflow:URI (e.g. mlflow:http://localhost:5000). Got {text!r}.")
    if sep and not uri.strip():
        raise MLMLError(f"--track {text!r} has an empty URI; write mlflow (the default store) or mlflow:URI.")
    return TrackSpec("mlflow", uri.strip() or None)


def track_spec(track: TrackSpec | None, tracking_uri: str | None) -> TrackSpec | None:
    """What ``--track`` and ``--tracking-uri`` ask for together: ``--tracking-uri`` alone turns MLflow tracking
    on; None when neither is given.

    Raises:
        MLMLError: ``--track mlflow:URI`` and ``--tracking-uri`` name two different stores, or an empty URI.
    """
    if tracking_uri is not None and not tracking_uri.strip():
        raise MLMLError("--tracking-uri is empty; give an MLflow URI (sqlite:///mlflow.db, http://host:5000) or a "
                        "path.")
    if track is None:
        return None if tracking_uri is None else TrackSpec("mlflow", tracking_uri.strip())
    if tracking_uri is None:
        return track
    if track.uri is not None and track.uri != tracking_uri.strip():
        raise MLMLError(f"--track {track.backend}:{track.uri} and --tracking-uri {tracking_uri} name two stores; "
                        "give one.")
    return TrackSpec(track.backend, tracking_uri.strip())


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
        artifacts = None
        if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":  # SQLite makes the file, not its folder
            folder = Path(uri[len("sqlite:///"):]).parent
            folder.mkdir(parents=True, exist_ok=True)
            # A new experiment's artifacts go beside the database (MLflow's own default is ./mlruns in whatever
            # folder the process runs in: the same for the default store, elsewhere for any other)
            artifacts = (folder / "mlruns").resolve().as_uri()
        self.uri = uri
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(self.experiment)
            self.experiment_id = (found.experiment_id if found is not None
                                  else self.client.create_experiment(self.experiment, artifact_location=artifacts))
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

    def log_dict(self, run_id: str, value: Any, artifact_file: str) -> None:
        """A JSON-serialisable value as the artifact ``artifact_file``."""
        self.client.log_dict(run_id, value, artifact_file)

    def log_model(self, run_id: str, model_dir: Path, artifact_path: str = "model",
                  example: Any = None) -> None:
        """The model folder ``model_dir`` (written by ``TrainedModel.save``) as an MLflow model with a ``pyfunc``
        flavour (:mod:`mlml.mlflow_model`) at the run's ``artifact_path``."""
        import tempfile

        from mlml.mlflow_model import save_pyfunc

        with tempfile.TemporaryDirectory() as tmp:
            saved = save_pyfunc(model_dir, Path(tmp) / artifact_path, example=example)
            self.client.log_artifacts(run_id, str(saved), artifact_path=artifact_path)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)


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
