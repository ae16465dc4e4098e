"""``mlml reproduce`` and ``mlml report``: the experiment grid from its config and flags (flags named in its
errors), run and tracked, and the report of a run folder (its own grid's trials, or every stored one)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlml.cli.common import _check_folder, _flag_names, _source_files
from mlml.exceptions import MLMLError


def _grid_method_params(params: Sequence[tuple[str | None, str, Any]]) -> dict[str, dict[str, Any]] | None:
    """``--method-param METHOD:KEY=VALUE`` flags as the grid config's ``method_params``."""
    out: dict[str, dict[str, Any]] = {}
    for target, key, value in params:
        if target is None:
            raise MLMLError(f"--method-param {key}=... must name its method in a grid: METHOD:{key}=VALUE.")
        out.setdefault(target, {})[key] = value
    return out or None


_GRID_FLAGS = {"folds": "--folds", "ratios": "--ratios", "methods": "--methods", "seeds": "--seed",
               "scheme": "--scheme", "min_labels": "--min-labels", "backbone": "--backbone",
               "thresholds": "--thresholds", "weights_source": "--weights-source", "recipe": "--recipe"}


def _grid_flags(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """The grid config's keys (and training settings) that ``mlml reproduce``'s flags set, by owner."""
    grid = {key: flag for key, flag in _GRID_FLAGS.items() if getattr(args, key, None) is not None}
    return {"the grid config": grid, "TrainConfig": {"epochs": "--epochs"} if args.epochs is not None else {}}


def _with_flag_names(function: Any, owners: dict[str, dict[str, str]]) -> Any:
    """``function``, its ``MLMLError``s about parameters that flags set rewritten to name the flags."""
    def call(*args: Any, **kwargs: Any) -> Any:
        with _flag_names(owners["TrainConfig"], "TrainConfig"), _flag_names(owners["the grid config"],
                                                                             "the grid config"):
            return function(*args, **kwargs)

    return call


def _reproduce(args: argparse.Namespace) -> int:
    from mlml.experiments import load_config, run_grid
    from mlml.experiments.runner import check_run_inputs
    from mlml.mlflow_client import track_spec
    from mlml.reports import NothingFinished, summarize, terminal_table, write_report
    from mlml.tracking import grid_tracking

    if args.out is not None:
        _check_folder("--out", args.out, "the run folder must be a folder (new or of an earlier run)")
    datasets = (args.sources or []) + (args.datasets_flag or []) or None
    config = _with_flag_names(load_config, _grid_flags(args))(
        args.config, recipe=args.recipe, datasets=datasets, ratios=args.ratios, methods=args.methods,
        method_params=_grid_method_params(args.method_param), folds=args.folds,
        seeds=args.seeds, scheme=args.scheme, weights_source=args.weights_source, thresholds=args.thresholds,
        backbone=args.backbone, min_labels=args.min_labels, val_set_variants=_val_set_variants(args.val_set_variant),
        skip_bad=args.skip_bad or None, train_overrides={"epochs": args.epochs} if args.epochs is not None else None,
    )
    run_dir = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    inputs = {"--config": args.config}
    for source in config.datasets:
        inputs.update(_source_files(source))
    check_run_inputs(run_dir, inputs)
    started = time.perf_counter()
    with grid_tracking(track_spec(args.track, args.tracking_uri), config, run_dir) as tracking:
        records = run_grid(config, run_dir, jobs=args.jobs, scheduler=args.scheduler, progress=not args.no_progress,
                           on_record=tracking.trial)
        wall = time.perf_counter() - started
        try:
            report = write_report(records, run_dir, expected=_expected(config, run_dir), thresholds=config.thresholds)
            tracking.report(records)
        except NothingFinished as kept:
            report = kept
    print(terminal_table(summarize(records, thresholds=config.thresholds)))
    if config.scheme != "single-positive" and any(r.get("ratio") == 0 for r in records):
        from mlml.diagnose_text import test_label_note

        print(f"note: rows at ratio 0 train and test on the data set's labels as given. {test_label_note()}")
    print(f"report: {report}")
    failed = sum(r.status == "failed" for r in records)
    print(f"{len(records)} trials in {run_dir} ({failed} failed); this invocation took {wall:.1f} s")
    return 1 if failed else 0


def _val_set_variants(choice: str | None) -> list[str] | None:
    return None if choice is None else ["observed", "complete"] if choice == "both" else [choice]


def _report(args: argparse.Namespace) -> int:
    from mlml.experiments import ResultStore, load_config
    from mlml.experiments.runner import STORE_NAME, grid_records, note_other_trials
    from mlml.reports import summarize, terminal_table, write_report

    store_path = args.run_dir / STORE_NAME
    if not store_path.is_file():
        raise MLMLError(f"{args.run_dir}: no {STORE_NAME}; is this a run folder of `mlml reproduce`?")
    store = ResultStore(store_path)
    config_path = args.run_dir / "config.yaml"
    config = None
    if not args.all_trials and config_path.is_file():
        try:
            config = load_config(config_path)
        except MLMLError as exc:
            raise MLMLError(f"{exc} (`mlml report --all` reports every stored trial without it)") from None
    if config is None:
        records, expected = store.records(), None
    else:
        records, expected = grid_records(config, store, args.run_dir), _expected(config, args.run_dir)
        stored = store.count()
        if not records and stored:
            raise MLMLError(
                f"{config_path} describes a grid none of whose trials is stored, but {store_path} holds {stored} "
                "trial(s) of other configurations; results.csv is left as it was. `mlml report --all` reports "
                "them all."
            )
        note_other_trials(store, len(records))
    thresholds = args.thresholds or (config.thresholds if config else "fixed")
    report = write_report(records, args.run_dir, expected=expected, thresholds=thresholds)
    print(terminal_table(summarize(records, thresholds=thresholds)))
    print(f"report: {report}")
    return 0


def _expected(config: Any, run_dir: Path) -> list[dict[str, object]]:
    from dataclasses import asdict

    from mlml.experiments import grid_trials
    from mlml.experiments.runner import run_fingerprints

    return [{**asdict(t), "trial_id": t.trial_id} for t in grid_trials(config, run_fingerprints(run_dir))]
