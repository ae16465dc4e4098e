"""``mlml train``: check the flags and the output folder before any work, build the training settings (recipe,
flags), prepare the fold, fit (or choose with ``auto``), decide, and write the model folder with its labels."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlml._io import atomic_group, check_outputs
from mlml.cli.common import _check_folder, _flag_names, _load_source, _source_files
from mlml.exceptions import MLMLError


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


def _train(args: argparse.Namespace) -> int:
    from mlml.auto import fit_auto, is_auto
    from mlml.evaluation.policies import SOFT_POLICIES
    from mlml.folds import make_fold
    from mlml.mlflow_client import track_spec
    from mlml.predictions import decision_name
    from mlml.recipes import recipe_values
    from mlml.service import apply_recipe, dataset_inputs, decision_posterior, default_setup, fold_missing_share
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
        "optimizer": args.optimizer, "solver": args.solver, "lr": args.lr, "epochs": args.epochs,
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
    if config.solver == "lbfgs" and not auto:  # before the data is read
        from mlml.training.lbfgs import check_lbfgs

        check_lbfgs(config, method)
    thresholds = args.thresholds  # own, for auto: the policy it chooses
    policy = method.threshold_policy if thresholds == "own" else thresholds
    if thresholds == "own" and not auto:
        no_rows = policy != "fixed" and config.val_fraction == 0  # nothing to fit its own policy on: 0.5
        print(f"--thresholds own: the method {method.name!r} decides with its own policy {policy!r}"
              + (f", which needs validation rows; the {args.recipe!r} recipe keeps none: 0.5 (fixed)" if no_rows
                 else ""))
        policy = "fixed" if no_rows else policy
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
    setup = {} if auto or info.enabled else default_setup(method, inputs, settings)  # the solver runs in one process
    if setup:  # the recommended method on a sparse bag of words: the linear head with L-BFGS (docs/solver.md)
        with _flag_names(given, "TrainConfig"):
            config = TrainConfig.from_dict({**settings, **setup})
        print(f"sparse features ({inputs.nnz / (inputs.shape[0] * inputs.shape[1]):.1%} non-zero): the linear head "
              "with the full-batch L-BFGS solver (docs/solver.md; --head mlp keeps the MLP head)")
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
        if len(fold.val):  # kept with the model: `mlml decide` refits any policy later
            if result.val_proba.size <= VALIDATION_ENTRIES:
                result.val_q = decision_posterior(fold)
            if result.missing_share is None:  # what `select` reads (auto deciding with select has it already)
                result.missing_share = fold_missing_share(fold)
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
    _warn_shortfall(result, policy, args.out)
    best = result.history[result.best_epoch] if result.history else {}
    score = best.get("val_score", float("nan"))
    selection = (f"validation mAP on observed labels {score:.4f}" if score == score
                 else f"validation loss {best.get('val_loss', float('nan')):.4f}" if "val_loss" in best
                 else "no validation rows: the last epoch")
    if auto:  # an average of several trainings: their epochs are per candidate, in the summary's record
        print(_auto_summary(result.auto_choice))
    trained = "" if auto else f"{len(result.history)} epochs, best epoch {result.best_epoch} ({selection}); "
    print(f"{method.name} ({recipe_label}) on {dataset.name}: {trained}decisions: {decision_name(result)}; "
          f"{config.num_threads or 'default'} torch thread(s) -> {args.out}")
    return 0


def _warn_shortfall(result: Any, policy: str, out: Path) -> None:
    """Warn when the decision predicts fewer labels per validation row than half the positives observed per
    training row (:func:`mlml.service.decision_shortfall`), naming the command that refits another policy."""
    import warnings

    from mlml.service import decision_shortfall

    shortfall = decision_shortfall(result)
    if shortfall is not None and shortfall[0] < shortfall[1] / 2:
        predicted, observed = shortfall
        warnings.warn(f"the {policy!r} decision predicts {predicted:.2f} labels per validation row, fewer than half "
                      f"the {observed:.3g} positives observed per training row (missing positives only add to them); "
                      f"refit another policy without retraining, e.g. `mlml decide {out} --thresholds pu` (or "
                      "cardinality, calibrated), and compare them on a hold-out.", UserWarning, stacklevel=2)


def _auto_summary(choice: dict[str, Any]) -> str:
    """What auto chose and why: one line per candidate with its criterion value (and policy, where chosen per
    model)."""
    criterion, per_model = choice["criterion"], choice.get("policy_rule") == "choose"
    how = ("every candidate averaged (combine=0); criterion values for the record" if choice.get("combine") == 0
           else f"chosen by {criterion}")
    bags = f" (each the bag of {choice['seeds']} training seeds)" if choice.get("seeds", 1) > 1 else ""
    lines = [f"auto: {len(choice['candidates'])} candidates{bags}, {how} ({choice['rehidden_positives']} re-hidden "
             "validation positives):"]
    for name, entry in choice["candidates"].items():
        lines.append(f"  {name:<22} {criterion} {entry['criteria'][criterion]:.4f}"
                     + (f"  policy {entry['policy']}" if per_model else ""))
    rule = "select: " if choice.get("policy_rule") == "select" else ""
    lines.append(f"  -> {choice['chosen']} ({criterion} {choice['value']:.4f}), policy {rule}{choice['policy']}")
    return "\n".join(lines)


_TRAIN_FLAGS = {"mode": "--mode", "head": "--head", "optimizer": "--optimizer", "solver": "--solver", "lr": "--lr",
                "epochs": "--epochs",
                "batch_size": "--batch-size", "seed": "--seed", "device": "--device",
                "finetune_last_k_blocks": "--finetune-last-k", "checkpoint_dir": "--checkpoint-dir",
                "backbone_weights": "--weights", "backbone": "--backbone"}


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


def _example_rows(inputs: Any, n: int = 5) -> Any:
    """The first ``n`` feature rows, dense: the input example of a model logged to MLflow (its signature)."""
    import numpy as np

    rows = inputs[:n]
    return rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
