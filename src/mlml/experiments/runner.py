"""Run the grid: skip finished trials, run the rest serially, in local processes or on a Dask cluster.

The three ways share one code path: a ``concurrent.futures`` executor (a process pool, or the executor of a
``dask.distributed`` client) runs :func:`~mlml.experiments.trials.run_trial_safely`, and the parent process
commits each record to the store as it arrives. Nothing but the parent writes the store.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import platform
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from mlml.exceptions import MLMLError
from mlml.experiments.config import GridConfig
from mlml.experiments.store import ResultStore
from mlml.experiments.trials import Trial, grid_trials, prepare, run_trial_safely

STORE_NAME = "results.sqlite"
_VERSIONED = ("mlml", "numpy", "scipy", "scikit-learn", "torch", "iterative-stratification", "liac-arff", "river")


def run_grid(
    config: GridConfig,
    run_dir: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every unfinished trial of ``config`` and return all records of the run folder.

    Args:
        config: the validated grid.
        run_dir: the run folder; holds ``results.sqlite``, ``config.yaml`` and ``environment.json``.
        jobs: worker processes on this machine (1: run in this process).
        scheduler: address of a Dask distributed scheduler (``tcp://host:8786``); overrides ``jobs``.
        progress: show a progress bar over trials with ETA.
        on_record: called with each new record (after it is committed).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(config, run_dir)
    store = ResultStore(run_dir / STORE_NAME)
    finished = store.finished_ids()
    pending = [t for t in grid_trials(config) if t.trial_id not in finished]
    prepare(config, {trial.dataset for trial in pending})
    bar = tqdm(total=len(pending), desc="trials", unit="trial", disable=not progress or not pending)
    try:
        for record in _execute(pending, config, jobs=jobs, scheduler=scheduler):
            store.put(record)
            bar.update()
            if record["status"] == "failed":
                bar.write(f"trial {record['trial_id']} ({_label(record)}) failed: {_last_line(record['error'])}")
            if on_record is not None:
                on_record(record)
    finally:
        bar.close()
    return grid_records(config, store)


def grid_records(config: GridConfig, store: ResultStore) -> list[dict[str, Any]]:
    """The stored records of ``config``'s trials; a store can also hold trials of other configurations (the same
    ``--out`` re-used with other settings), which are left out with a note on stderr."""
    ids = {trial.trial_id for trial in grid_trials(config)}
    records = store.records()
    mine = [r for r in records if r["trial_id"] in ids]
    if len(mine) < len(records):
        print(f"note: {store.path} also holds {len(records) - len(mine)} trial(s) of other configurations; "
              "they are left out of this report", file=sys.stderr)
    return mine


def _execute(
    trials: list[Trial], config: GridConfig, *, jobs: int, scheduler: str | None
) -> Iterable[dict[str, Any]]:
    if not trials:
        return
    if scheduler is None and jobs <= 1:
        for trial in trials:
            yield run_trial_safely(trial, config)
        return
    with _executor(jobs, scheduler) as executor:
        futures = [executor.submit(run_trial_safely, trial, config) for trial in trials]
        for future in cf.as_completed(futures):
            yield future.result()


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


def write_run_files(config: GridConfig, run_dir: Path) -> None:
    """Write the resolved config, the seeds and the package versions to the run folder."""
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    environment = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "seeds": config.seeds,
        "config_hash": config.trial_hash(),
        "command": sys.argv,
    }
    (run_dir / "environment.json").write_text(json.dumps(environment, indent=2), encoding="utf-8")


def _label(record: dict[str, Any]) -> str:
    return f"{record['dataset']} {record['method']} r={record['ratio']} fold={record['fold']} seed={record['seed']}"


def _last_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[-1] if text else ""
