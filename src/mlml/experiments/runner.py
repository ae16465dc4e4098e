"""Run the grid: skip finished trials, run the rest serially, in local processes or on a Dask cluster.

The three ways share one code path: a ``concurrent.futures`` executor (a process pool, or the executor of a
``dask.distributed`` client) runs :func:`~mlml.experiments.trials.run_trial_safely`, and the parent process
commits each record to the store as it arrives. Nothing but the parent writes the store.

What travels to a worker is the task ``run_trial_safely(trial, config)``: a trial key and the grid config, a few
kB whatever the data's size, never the data. Each worker process loads a data set the first time one of its
trials needs it (from the SOURCE, i.e. files every worker can read: a shared file system on a cluster) and keeps
it for all its later trials; concurrent first calls from a Dask worker's threads wait for one load
(:func:`mlml.experiments.cache.per_process_cache`). A data set that fits a worker's memory once therefore runs on
any number of workers and threads; the parent loads it once too, to check the grid and fingerprint the data.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import platform
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from mlml._io import write_text
from mlml.exceptions import DataError, MLMLError
from mlml.experiments.config import GridConfig
from mlml.experiments.store import ResultStore
from mlml.experiments.trials import (
    TRIAL_WARNINGS,
    Trial,
    grid_trials,
    load_datasets,
    package_versions,
    prepare,
    run_trial_safely,
)
from mlml.record import TrialRecord

logger = logging.getLogger("mlml.experiments")

STORE_NAME = "results.sqlite"
DATASETS_NAME = "datasets.json"
# What a run folder's own files are: the grid and the report write them (the store with its SQLite journals).
RUN_FILES = (STORE_NAME, "config.yaml", DATASETS_NAME, "environment.json", "results.csv", "report.md", "report.html")
RUN_FOLDERS = ("figures", "mlruns")


def check_run_inputs(run_dir: str | Path, inputs: Mapping[str, Any]) -> None:
    """Refuse a grid that reads a file its run folder's own files would replace (``RUN_DIR/results.csv`` given as
    a labels file, ``RUN_DIR/config.yaml`` as ``--config``...), before anything is written.

    Args:
        run_dir: the run folder (``--out``).
        inputs: the files the grid reads, by a name for messages (``"--config"``, ``"SOURCE file X"``).

    Raises:
        MLMLError: naming the input and the run folder.
    """
    root = Path(os.path.realpath(run_dir))
    for name, value in inputs.items():
        if value is None:
            continue
        path = Path(os.path.realpath(value))
        if path.parent == root and (path.name in RUN_FILES or path.name.startswith(STORE_NAME + "-")):
            own = f"its own {path.name}"
        elif any(root / folder in path.parents for folder in RUN_FOLDERS):
            own = f"its {path.relative_to(root).parts[0]}/ folder"
        else:
            continue
        raise MLMLError(f"{name} is in the run folder {run_dir}, where the run writes {own}; refusing to overwrite "
                        "an input. Move the file out of the run folder, or choose another --out.")


def run_grid(
    config: GridConfig,
    run_dir: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    on_record: Callable[[TrialRecord], None] | None = None,
) -> list[TrialRecord]:
    """Run every unfinished trial of ``config`` and return all records of the run folder.

    Every data set is loaded and checked (and the grid against it: enough samples for the folds) before the
    run folder is touched; ``config.yaml``, ``environment.json`` and ``datasets.json`` (each data set's
    fingerprint, part of every trial id) are then written atomically.

    Args:
        config: the validated grid.
        run_dir: the run folder; holds ``results.sqlite``, ``config.yaml``, ``environment.json`` and
            ``datasets.json``.
        jobs: worker processes on this machine (1: run in this process).
        scheduler: address of a Dask distributed scheduler (``tcp://host:8786``); overrides ``jobs``.
        progress: show a progress bar over trials with ETA.
        on_record: called with each new record (after it is committed).
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise MLMLError(f"--out {run_dir} is a file; the run folder must be a folder (new or of an earlier run).")
    if scheduler is not None:
        _check_scheduler(scheduler)
    else:  # the workers are this machine's: its devices are theirs
        from mlml.training.distributed import DistInfo
        from mlml.training.model import resolve_device

        resolve_device(config.train_config(seed=0).device, DistInfo(), name="The grid config's train: device")
    datasets = load_datasets(config)
    write_run_files(config, run_dir, datasets)
    store = ResultStore(run_dir / STORE_NAME)
    finished = store.finished_ids()
    fingerprints = {source: info["fingerprint"] for source, info in datasets.items()}
    pending = [t for t in grid_trials(config, fingerprints) if t.trial_id not in finished]
    prepare(config, {trial.dataset for trial in pending})
    bar = tqdm(total=len(pending), desc="trials", unit="trial", disable=not progress or not pending)
    raised: dict[type[Warning], list[str]] = {}
    try:
        for record in _execute(pending, config, jobs=jobs, scheduler=scheduler):
            for category, message in record.extra.pop(TRIAL_WARNINGS, None) or ():
                raised.setdefault(category, []).append(message)
            store.put(record)
            bar.update()
            if record.status == "failed":
                bar.write(f"trial {record.trial_id} ({_label(record)}) failed: {_last_line(record.error)}")
            if on_record is not None:
                on_record(record)
    finally:
        bar.close()
        _warn_once(raised, len(pending))
    records = grid_records(config, store)
    note_other_trials(store, len(records))
    return records


def _warn_once(raised: Mapping[type[Warning], list[str]], n_trials: int) -> None:
    """One warning per kind for the whole grid (a 1,000-fold grid would otherwise print thousands of lines):
    how many trials raised it and its first message."""
    for category, messages in raised.items():
        distinct = len(set(messages))
        others = f"; {distinct - 1} other message(s) of this kind" if distinct > 1 else ""
        warnings.warn(f"{len(messages)} warning(s) in {n_trials} trial(s), e.g.: {messages[0]}{others}",
                      category, stacklevel=3)


def run_fingerprints(run_dir: str | Path) -> dict[str, str]:
    """The data fingerprints a run folder's trials were run with (``datasets.json``; empty if absent)."""
    path = Path(run_dir) / DATASETS_NAME
    if not path.is_file():
        return {}
    try:
        datasets = json.loads(path.read_text(encoding="utf-8"))
        return {source: str(info["fingerprint"]) for source, info in datasets.items()}
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise DataError(f"{path}: not a data-set list written by mlml reproduce: {exc}") from None


def grid_records(config: GridConfig, store: ResultStore, run_dir: str | Path | None = None) -> list[TrialRecord]:
    """The stored records of ``config``'s trials (with the data fingerprints of ``run_dir``, default the store's
    folder). A store can also hold trials of other configurations (the same ``--out`` re-used with other
    settings); they are left out (:func:`note_other_trials` says so)."""
    fingerprints = run_fingerprints(store.path.parent if run_dir is None else run_dir)
    ids = {trial.trial_id for trial in grid_trials(config, fingerprints)}
    return [r for r in store.records() if r.trial_id in ids]


def note_other_trials(store: ResultStore, shown: int) -> None:
    """A note (logger ``mlml.experiments``, INFO: the CLI shows it) when the store holds trials a report leaves
    out."""
    other = store.count() - shown
    if other > 0:
        logger.info("note: %s also holds %d trial(s) of other configurations; they are left out of this report "
                    "(`mlml report --all` shows every stored trial)", store.path, other)


def _execute(
    trials: list[Trial], config: GridConfig, *, jobs: int, scheduler: str | None
) -> Iterable[TrialRecord]:
    if not trials:
        return
    if scheduler is None and jobs <= 1:
        for trial in trials:
            yield run_trial_safely(trial, config)
        return
    with _executor(jobs, scheduler) as executor:
        futures = [executor.submit(run_trial_safely, trial, config) for trial in _costliest_first(trials, config)]
        for future in cf.as_completed(futures):
            yield future.result()


def _costliest_first(trials: list[Trial], config: GridConfig) -> list[Trial]:
    """The trials in the order the workers take them: the costliest first (``auto`` trains its candidates under
    each of its seeds, every other method one model), so that no long trial starts last while the other workers
    idle (longest processing time first); the grid's order otherwise. A trial's figures do not depend on the
    order: each is seeded by itself."""
    from mlml.auto import is_auto

    methods = config.resolved_methods()

    def trainings(trial: Trial) -> int:
        method = methods[trial.method]
        return len(method.candidate_names(partial=False)) * method.seeds if is_auto(method) else 1

    return sorted(trials, key=trainings, reverse=True)


def _check_scheduler(address: str) -> None:
    """Refuse a ``--scheduler`` that is not an address (no host and port) before any work."""
    try:
        from distributed.comm import parse_address
        from distributed.comm.addressing import parse_host_port
    except ImportError:
        raise MLMLError("--scheduler needs Dask: pip install 'mlml[dask]'") from None
    try:
        protocol, location = parse_address(address)
        parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise MLMLError(f"--scheduler {address!r} is not a Dask scheduler address ({exc}); expected "
                        "tcp://HOST:PORT.") from None


class _DaskExecutor:
    """The ``concurrent.futures`` executor of a Dask client, closing the client on exit."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise MLMLError("--scheduler needs Dask: pip install 'mlml[dask]'") from None
        try:
            self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise MLMLError(f"Cannot reach the Dask scheduler at {address!r}: {exc}") from None
        except (ValueError, TypeError) as exc:  # not an address: 'notaurl', a missing port, an unknown protocol
            raise MLMLError(f"--scheduler {address!r} is not a Dask scheduler address ({exc}); expected "
                            "tcp://HOST:PORT.") from None
        self.executor = self.client.get_executor(pure=False)

    def __enter__(self) -> cf.Executor:
        return self.executor

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _executor(jobs: int, scheduler: str | None) -> Any:
    if scheduler is not None:
        return _DaskExecutor(scheduler)
    return cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    )


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def write_run_files(config: GridConfig, run_dir: Path, datasets: Mapping[str, Any]) -> None:
    """Write the resolved config, the data sets' fingerprints, the seeds and the package versions to the run
    folder, each file atomically."""
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    write_text(run_dir / DATASETS_NAME, json.dumps(dict(datasets), indent=2))
    environment = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "seeds": config.seeds,
        "config_hash": config.trial_hash(),
        "recipe": config.recipe,
        "command": sys.argv,
    }
    write_text(run_dir / "environment.json", json.dumps(environment, indent=2))


def _label(record: TrialRecord) -> str:
    return f"{record.dataset} {record.method} r={record.ratio} fold={record.fold} seed={record.seed}"


def _last_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[-1] if text else ""
