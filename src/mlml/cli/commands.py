"""What each ``mlml`` verb does: read its arguments, check what only the command line knows (flag combinations,
output paths), call :mod:`mlml.service` and the core, print and write."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlml._io import atomic_group, check_outputs
from mlml.exceptions import MLMLError


def _version() -> str:
    from mlml import __version__

    return __version__


def _simulate(args: argparse.Namespace) -> int:
    from mlml.labels import read_labels_csv, write_matrix_csv
    from mlml.simulate import hide_positives

    check_outputs({"--out": args.out, "--hidden-out": args.hidden_out}, {"--labels": args.labels})
    if args.scheme == "partial" and not args.ratio:
        raise MLMLError("--scheme partial keeps the proportion --ratio of the labels: give --ratio in (0, 1].")
    if args.scheme == "single-positive" and args.ratio is not None:
        raise MLMLError("--scheme single-positive keeps one positive a sample; it takes no --ratio.")
    if args.scheme in ("per-sample", "uniform") and args.ratio is None:
        raise MLMLError(f"--scheme {args.scheme} hides the proportion --ratio of the positives: give --ratio.")
    if args.scheme == "partial" and args.keep_at_least_one:
        raise MLMLError("--keep-at-least-one applies to the schemes that hide positives, not to --scheme partial.")
    table = read_labels_csv(args.labels, allow_unknown=True)
    observed, hidden = hide_positives(
        table.values, args.ratio, scheme=args.scheme, keep_at_least_one=args.keep_at_least_one,
        random_state=args.seed,
    )
    with atomic_group():  # both files or neither
        write_matrix_csv(args.out, table.ids, table.names, observed)
        if args.hidden_out:
            write_matrix_csv(args.hidden_out, table.ids, table.names, hidden.astype("int8"))
    if args.scheme == "partial":
        print(f"kept {int((observed != -1).sum())} of {observed.size} labels ({int((observed == 1).sum())} positives, "
              f"{int((observed == 2).sum())} verified negatives; {int(hidden.sum())} positives unannotated) in "
              f"{len(table.ids)} samples -> {args.out}")
        return 0
    print(f"hid {int(hidden.sum())} of {int((table.values == 1).sum())} positives in {len(table.ids)} samples "
          f"-> {args.out}")
    return 0


def _weights(args: argparse.Namespace) -> int:
    from mlml.labels import read_labels_csv, write_matrix_csv
    from mlml.weights import ESTIMATORS

    check_outputs({"--out": args.out},
                  {"--labels": args.labels, "--fit-labels": args.fit_labels, "--hidden": args.hidden})
    estimator = ESTIMATORS.create(args.estimator)
    if estimator.needs_hidden or estimator.uses_features or estimator.adaptive:
        raise MLMLError(f"The estimator {args.estimator!r} needs more than a labels file; "
                        "use it through `mlml reproduce` or the Python API.")
    table = read_labels_csv(args.labels)
    fit_table = read_labels_csv(args.fit_labels) if args.fit_labels else table
    if fit_table.names != table.names:
        raise MLMLError(f"{args.fit_labels}: its class columns differ from those of {args.labels}.")
    hidden = None
    if args.hidden:  # read and checked before anything is computed or written
        hidden = read_labels_csv(args.hidden, allow_unknown=False)
        if list(hidden.ids) != list(table.ids) or hidden.names != table.names:
            raise MLMLError(f"{args.hidden}: its ids or class columns differ from those of {args.labels}.")
    started = time.perf_counter()
    _, neg = estimator.fit(fit_table.values).transform(table.values)
    seconds = time.perf_counter() - started
    if hidden is not None:
        from mlml.weights.diagnostics import hidden_positive_detection

        scores = hidden_positive_detection(neg, table.values, hidden.values.astype(bool))
    write_matrix_csv(args.out, table.ids, table.names, neg)
    print(f"{args.estimator}: ω̄ for {neg.shape[0]} x {neg.shape[1]} entries in {seconds:.3f} s -> {args.out}")
    if hidden is not None:
        print(f"finding the hidden positives with 1 - ω̄: ROC-AUC {scores['auc']:.4f}, AP {scores['ap']:.4f} "
              f"({scores['n_hidden']} hidden among {scores['n_candidates']} zero entries)")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from mlml.data import describe, format_info

    print(format_info(describe(_load_source(args))))
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from mlml.diagnose import diagnose
    from mlml.diagnose_text import format_diagnosis

    check_outputs({"--out": args.out}, _source_files(args.source))
    dataset = _load_source(args)
    features = None
    if args.features == "auto" and (dataset.features is not None or dataset.image_paths is not None):
        from mlml.models.features import dataset_features

        features = dataset_features(dataset, backbone=args.backbone if dataset.image_paths is not None else None)
    result = diagnose(dataset.labels, features=features, label_names=list(dataset.label_names),
                      n_bootstrap=args.bootstrap, min_positives=args.min_positives, random_state=args.seed)
    print(format_diagnosis(result, show=args.show))
    if args.out:
        from mlml._io import atomic_open

        with atomic_open(args.out, "w") as handle:
            json.dump(result.to_dict(), handle, indent=2)
        print(f"diagnosis -> {args.out}")
    return 0


def _load_source(args: argparse.Namespace) -> Any:
    from mlml.data import load

    return load(
        args.source, min_labels=args.min_labels, min_label_frequency=args.min_label_frequency,
        drop_empty=args.drop_empty, drop_duplicates=args.drop_duplicates,
        check_images=args.check_images or args.skip_bad, skip_bad=args.skip_bad,
    )


def _source_files(source: str, dataset: Any = None) -> dict[str, str]:
    """The files a SOURCE reads (its path arguments and the files its loader lists), by a name for messages."""
    from mlml.data.sources import parse_source

    _, args = parse_source(source)
    files = list(args) + list((getattr(dataset, "provenance", None) or {}).get("files", []))
    return {f"SOURCE file {path}": path for path in files if path and not os.path.isdir(path)}


def _method(name: str, params: Sequence[tuple[str | None, str, Any]]) -> Any:
    """The registered method ``name`` (or ``auto``, :func:`mlml.auto.resolve_method`) with ``--method-param``
    values applied."""
    from mlml.auto import resolve_method

    method = resolve_method(name)
    values = {}
    for target, key, value in params:
        if target not in (None, name):
            raise MLMLError(f"--method-param {target}:{key}=... names the method {target!r}; this run trains {name!r}.")
        values[key] = value
    return method.with_params(values) if values else method


def _grid_method_params(params: Sequence[tuple[str | None, str, Any]]) -> dict[str, dict[str, Any]] | None:
    """``--method-param METHOD:KEY=VALUE`` flags as the grid config's ``method_params``."""
    out: dict[str, dict[str, Any]] = {}
    for target, key, value in params:
        if target is None:
            raise MLMLError(f"--method-param {key}=... must name its method in a grid: METHOD:{key}=VALUE.")
        out.setdefault(target, {})[key] = value
    return out or None


def _train(args: argparse.Namespace) -> int:
    from mlml.auto import fit_auto, is_auto
    from mlml.evaluation.policies import SOFT_POLICIES
    from mlml.folds import make_fold
    from mlml.mlflow_client import track_spec
    from mlml.recipes import recipe_values
    from mlml.service import apply_recipe, dataset_inputs, decision_posterior
    from mlml.tracking import train_params, train_tracking
    from mlml.training import TrainConfig, fit, init_from_env
    from mlml.training.distributed import DistInfo
    from mlml.training.model import resolve_device
    from mlml.training.saved import VALIDATION_ENTRIES

    _check_folder("--out", args.out, "the model is written to a folder")
    if args.checkpoint_dir is not None:
        _check_folder("--checkpoint-dir", args.checkpoint_dir, "checkpoints are written to a folder")
    if args.scheme == "single-positive" and args.ratio:
        raise MLMLError("--scheme single-positive keeps one positive a sample; it takes no --ratio.")
    if args.weights is not None and not args.weights.is_file():
        raise MLMLError(f"--weights {args.weights}: no such file.")
    method = _method(args.method, args.method_param)
    flags = {
        "mode": args.mode, "backbone": args.backbone if args.mode == "finetune" else None, "head": args.head,
        "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
        "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
        "finetune_last_k_blocks": args.finetune_last_k,
        "checkpoint_dir": str(args.checkpoint_dir) if args.checkpoint_dir else None,
        "backbone_weights": str(args.weights) if args.weights else None,
    }
    method, settings = apply_recipe(args.recipe, method, {k: v for k, v in flags.items() if v is not None})
    recipe_label = _recipe_label(args.recipe, recipe_values(args.recipe).get("train") or {}, settings)
    if args.fixed_epochs:
        settings["fixed_epochs"] = True
    if args.num_threads != "auto":
        settings["num_threads"] = args.num_threads
    if args.quiet:
        settings["log"] = False
    given = {key: _TRAIN_FLAGS[key] for key, value in flags.items() if value is not None and key in _TRAIN_FLAGS}
    with _flag_names(given, "TrainConfig"):
        config = TrainConfig.from_dict(settings)  # every training setting checked before the data is read
    resolve_device(config.device, DistInfo(), name="--device")
    auto = is_auto(method)
    thresholds = args.thresholds  # own, for auto: the policy it chooses
    policy = method.threshold_policy if thresholds == "own" else thresholds
    if thresholds == "own" and not auto:
        print(f"--thresholds own: the method {method.name!r} decides with its own policy {policy!r}")
    if (policy != "fixed" or auto) and config.val_fraction == 0:
        raise MLMLError(f"--thresholds {thresholds} needs validation rows; the {args.recipe!r} recipe trains "
                        "without them.")
    if method.oracle and args.ratio == 0 and args.scheme == "per-sample":
        raise MLMLError(f"The oracle method {method.name!r} needs hidden positives: give --ratio > 0.")
    if args.scheme == "partial" and args.ratio == 0:
        raise MLMLError("--scheme partial keeps the proportion --ratio of the labels: give --ratio in (0, 1].")
    dataset = _load_source(args)
    label_files = _label_files(dataset)
    outputs = {f"--out {name}": args.out / name for name in ("model.pt", "model.json", "validation.npz", *label_files)}
    check_outputs(outputs, _source_files(args.source, dataset))
    info = init_from_env()  # a no-op unless launched by torchrun
    track = track_spec(args.track, args.tracking_uri)
    tracking = train_tracking(track if info.rank == 0 else None, f"{method.name} on {dataset.name}")
    images = dataset.image_paths is not None
    if args.weights is not None and not images:
        raise MLMLError(f"--weights {args.weights} loads an image backbone; {dataset.name} has features only.")
    if args.mode == "finetune" and not images:
        raise MLMLError(f"--mode finetune needs images; {dataset.name} has features only.")
    inputs = dataset_inputs(dataset, mode=args.mode, backbone=args.backbone, weights=args.weights)
    if args.mode != "finetune" and images:
        config.backbone = args.backbone  # recorded, so that `mlml evaluate` extracts the same features
    fold = make_fold(dataset, ratio=None if args.scheme == "single-positive" else args.ratio, scheme=args.scheme,
                     seed=args.seed, val_fraction=config.val_fraction, inputs=inputs)
    if args.num_threads == "auto" and config.mode == "frozen":
        from mlml._threads import auto_threads
        from mlml.models.heads import count_parameters
        from mlml.training.model import build_model

        size = count_parameters(build_model(config, inputs.shape[1], dataset.labels.shape[1]))
        config.num_threads = auto_threads(size, config.batch_size)
    if not args.quiet:  # per-epoch progress on stderr (mlml.cli.show_messages)
        logging.getLogger("mlml.training").setLevel(logging.INFO)
    params = train_params(args.source, dataset, method, config, ratio=args.ratio, scheme=args.scheme, seed=args.seed,
                          recipe=args.recipe, thresholds=thresholds, n_train=len(fold.train),
                          n_val=len(fold.val)) if track else {}
    with tracking.start(params):
        if auto:  # its candidates, the choice and (--thresholds own) its policy: mlml.auto
            result = fit_auto(fold, config, method)
            policy = result.decision["policy"] if thresholds == "own" else policy
        else:
            result = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation,
                         hidden=fold.hidden_train if method.oracle else None, callbacks=tracking.callbacks)
        result.label_names = list(dataset.label_names)
        if len(fold.val) and result.val_proba.size <= VALIDATION_ENTRIES:
            result.val_q = decision_posterior(fold)  # kept with the model: `mlml decide` refits any policy
        if (policy != "fixed" or auto) and not (auto and thresholds == "own"):
            soft = policy in SOFT_POLICIES
            result.decide(policy, q=(result.val_q if result.val_q is not None else decision_posterior(fold))
                          if soft else None)
        if info.rank != 0:
            return 0
        with atomic_group():  # the model folder's files appear together
            result.save(args.out)
            _, observed, hidden = fold.training_fold()
            _write_labels(args.out / label_files[0], dataset, observed)
            if (hidden.nnz if hasattr(hidden, "nnz") else hidden.any()) or args.ratio > 0:
                _write_labels(args.out / label_files[1], dataset, hidden.astype("int8"))
        tracking.finish(result, args.out, [args.out / name for name in label_files],
                        example=_example_rows(fold.train_inputs) if track and args.mode == "frozen" else None)
    best = result.history[result.best_epoch] if result.history else {}
    score = best.get("val_score", float("nan"))
    selection = (f"validation mAP on observed labels {score:.4f}" if score == score
                 else f"validation loss {best.get('val_loss', float('nan')):.4f}" if "val_loss" in best
                 else "no validation rows: the last epoch")
    if auto:
        print(_auto_summary(result.auto_choice))
    print(f"{method.name} ({recipe_label}) on {dataset.name}: {len(result.history)} epochs, best epoch "
          f"{result.best_epoch} ({selection}); decisions: {policy}; {config.num_threads or 'default'} torch "
          f"thread(s) -> {args.out}")
    return 0


def _auto_summary(choice: dict[str, Any]) -> str:
    """What auto chose and why: one line per candidate with its criterion value (and policy, where chosen per
    model)."""
    criterion, per_model = choice["criterion"], choice.get("policy_rule") == "choose"
    how = ("every candidate averaged (combine=0); criterion values for the record" if choice.get("combine") == 0
           else f"chosen by {criterion}")
    lines = [f"auto: {len(choice['candidates'])} candidates, {how} ({choice['rehidden_positives']} re-hidden "
             "validation positives):"]
    for name, entry in choice["candidates"].items():
        lines.append(f"  {name:<22} {criterion} {entry['criteria'][criterion]:.4f}"
                     + (f"  policy {entry['policy']}" if per_model else ""))
    lines.append(f"  -> {choice['chosen']} ({criterion} {choice['value']:.4f}), policy {choice['policy']}")
    return "\n".join(lines)


_TRAIN_FLAGS = {"mode": "--mode", "head": "--head", "optimizer": "--optimizer", "lr": "--lr", "epochs": "--epochs",
                "batch_size": "--batch-size", "seed": "--seed", "device": "--device",
                "finetune_last_k_blocks": "--finetune-last-k", "checkpoint_dir": "--checkpoint-dir",
                "backbone_weights": "--weights", "backbone": "--backbone"}
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


@contextmanager
def _flag_names(flags: dict[str, str], owner: str) -> Iterator[None]:
    """Re-raise an ``MLMLError`` about ``The 'key' parameter of OWNER`` as one about the flag that set it."""
    try:
        yield
    except MLMLError as exc:
        message = str(exc)
        for key, flag in flags.items():
            message = message.replace(f"The {key!r} parameter of {owner}", flag)
        if message == str(exc):
            raise
        raise MLMLError(message) from None


def _check_folder(flag: str, path: Path, what: str) -> None:
    """Refuse an output folder that cannot be made (a file in its place or above it) before any work is done."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise MLMLError(f"{flag} {path}: {folder} is a file; {what}.")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise MLMLError(f"{flag} {path}: {folder} is not writable; {what}.")
            return


_RECIPE_FLAGS = {"head": "--head", "optimizer": "--optimizer", "lr": "--lr", "epochs": "--epochs",
                 "batch_size": "--batch-size", "fixed_epochs": "--fixed-epochs"}


def _recipe_label(name: str, recipe: dict[str, Any], settings: dict[str, Any]) -> str:
    """``'seed recipe'``, or which of its settings the flags replaced (``'seed recipe with --lr 0.5'``)."""
    changed = [f"{flag} {settings[key]}" if not isinstance(settings[key], bool) else flag
               for key, flag in _RECIPE_FLAGS.items() if key in recipe and settings.get(key) != recipe[key]]
    return f"{name} recipe" + (f" with {' '.join(changed)}" if changed else "")


def _label_files(dataset: Any) -> tuple[str, str]:
    """The observed and hidden labels' file names: CSV (id and class columns) for dense labels, the XC format
    (``mlml.data.xc``; one line of positive label ids per sample, in the data set's row order) for sparse ones,
    whose dense CSV could hold billions of cells."""
    import scipy.sparse as sp

    return ("observed.txt", "hidden.txt") if sp.issparse(dataset.labels) else ("observed.csv", "hidden.csv")


def _write_labels(path: Path, dataset: Any, values: Any) -> None:
    from mlml.data.xc import write_xc
    from mlml.labels import write_matrix_csv

    if path.suffix == ".txt":
        write_xc(path, values)
    else:
        write_matrix_csv(path, dataset.ids, dataset.label_names, values)


def _evaluate(args: argparse.Namespace) -> int:
    from mlml._io import write_text
    from mlml.diagnose_text import test_label_note
    from mlml.training import evaluate_model

    model_files = {f"model file {p}": args.model / p for p in ("model.pt", "model.json")}
    check_outputs({"--out": args.out}, {**model_files, **_source_files(args.source)})
    model: Any = args.model
    if args.thresholds is not None:
        from mlml.cli.decisions import refit
        from mlml.training.saved import load_model

        if args.threshold is not None:
            raise MLMLError("Give --threshold or --thresholds, not both.")
        model = load_model(args.model)
        print(f"decisions: {refit(model, args.thresholds)}, refitted on the model's validation rows")
    dataset = _load_source(args)
    metrics = evaluate_model(model, dataset, threshold=args.threshold)
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (list, tuple)) and not hasattr(v, "shape")}
    for name, value in scalars.items():
        print(f"{name:<24} {value:.4f}" if isinstance(value, float) else f"{name:<24} {value}")
    metrics["test_labels_note"] = test_label_note(dataset.labels)  # a user's labels: never known to be complete
    print(f"note: {metrics['test_labels_note']}")
    if args.out:
        write_text(args.out, json.dumps(metrics, indent=1, default=_jsonable))
        print(f"metrics -> {args.out}")
    return 0


def _jsonable(value: object) -> object:
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return tolist()


def _suggest(args: argparse.Namespace) -> int:
    from mlml.suggest import format_table, suggest, write_suggestions_csv
    from mlml.suggest_model import model_probabilities

    model_files = {} if args.model is None else {f"model file {p}": args.model / p for p in ("model.pt", "model.json")}
    check_outputs({"--out": args.out}, {**model_files, **_source_files(args.source)})
    dataset = _load_source(args)
    check_outputs({"--out": args.out}, _source_files(args.source, dataset))
    features = None
    if args.method != "labels" and (dataset.features is not None or dataset.image_paths is not None):
        from mlml.models.features import dataset_features

        features = dataset_features(dataset, backbone=args.backbone if dataset.image_paths is not None else None)
    oof_folds = 0 if args.method == "labels" and args.oof_folds is None else args.oof_folds
    probabilities, source = model_probabilities(dataset, model=args.model, oof_folds=oof_folds,
                                                random_state=args.seed, progress=True)
    if probabilities is not None or oof_folds is None and dataset.features is not None:  # used, or why not
        print(source)
    labels = None if args.labels is None else [x.strip() for x in args.labels.split(",") if x.strip()]
    rows = suggest(dataset.labels, features=features, label_names=list(dataset.label_names), ids=dataset.ids,
                   top_k=args.top_k, method=args.method, prior=args.prior, probabilities=probabilities,
                   labels=labels, per_label_cap=args.per_label_cap, min_score=args.min_score,
                   algorithm=args.algorithm, random_state=args.seed, progress=True)
    print(format_table(rows, args.show))
    if args.out:
        print(f"{len(rows)} suggestions -> {write_suggestions_csv(rows, args.out)}")
    return 0


def _methods(args: argparse.Namespace) -> int:
    # no torch import here (listing is instant): the losses are those the methods name, which the test suite
    # checks against mlml.losses.LOSSES
    from mlml.methods import METHOD_PRESETS, METHODS, RECOMMENDED_METHOD, WHEN_TO_USE
    from mlml.weights import ESTIMATORS

    print("methods (mlml train --method, mlml reproduce --methods); * = the default of mlml train:")
    for name in METHODS.names():
        method = METHODS.get(name)
        tag = (" [oracle]" if method.oracle else "") + (f" (= {method.alias_of})" if method.alias_of else "")
        policy = f" [decides: {method.threshold_policy}]" if method.threshold_policy != "fixed" else ""
        mark = "*" if name == RECOMMENDED_METHOD else " "
        print(f" {mark}{name:<22} {method.loss} + {method.estimator}{tag}{policy}  {method.description}")
    from mlml.auto.method import AUTO, DEFAULT_CANDIDATES, DEFAULT_CRITERION

    print(f"  {AUTO:<22} trains {', '.join(DEFAULT_CANDIDATES)} (+ csl on partial labels) and keeps the best by "
          f"{DEFAULT_CRITERION} on the validation rows (docs/auto.md)")
    for preset, members in METHOD_PRESETS.items():
        print(f"preset {preset} (--methods {preset}): {', '.join(members)}")
    print(f"when to use what: {WHEN_TO_USE}")
    losses = sorted({METHODS.get(name).loss for name in METHODS.names()})
    print(f"losses: {', '.join(losses)}")
    print(f"weight estimators: {', '.join(ESTIMATORS.names())}")
    return 0


def _example_rows(inputs: Any, n: int = 5) -> Any:
    """The first ``n`` feature rows, dense: the input example of a model logged to MLflow (its signature)."""
    import numpy as np

    rows = inputs[:n]
    return rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)


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
    if any(r.get("ratio") == 0 for r in records):
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
