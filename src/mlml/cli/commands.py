"""What the smaller ``mlml`` verbs do (simulate, weights, data info, diagnose, evaluate, suggest, methods): read
the arguments, check what only the command line knows (flag combinations, output paths), call :mod:`mlml.service`
and the core, print and write. ``mlml train`` is in :mod:`mlml.cli.train`, ``mlml reproduce`` and ``mlml report``
in :mod:`mlml.cli.grid`, ``mlml predict`` and ``mlml decide`` in :mod:`mlml.cli.decisions`."""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

from mlml._io import atomic_group, check_outputs
from mlml.cli.common import _load_source, _source_files
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
                      n_bootstrap=args.bootstrap, min_positives=args.min_positives, random_state=args.seed,
                      estimator=args.estimator, every_row_positive=not args.rows_may_be_empty)
    print(format_diagnosis(result, show=args.show))
    if args.out:
        from mlml._io import atomic_open

        with atomic_open(args.out, "w") as handle:
            json.dump(result.to_dict(), handle, indent=2)
        print(f"diagnosis -> {args.out}")
    return 0


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
    logging.getLogger("mlml.suggest.calibration").setLevel(logging.INFO)  # the calibration's one line
    rows = suggest(dataset.labels, features=features, label_names=list(dataset.label_names), ids=dataset.ids,
                   top_k=args.top_k, method=args.method, prior=args.prior, probabilities=probabilities,
                   labels=labels, per_label_cap=args.per_label_cap, min_score=args.min_score,
                   algorithm=args.algorithm, calibration=args.calibration, missing_share=args.missing_share,
                   random_state=args.seed, progress=True)
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
    from mlml.auto import method as auto

    print(f"  {auto.AUTO:<22} trains {', '.join(auto.DEFAULT_CANDIDATES)} (on partial labels "
          f"{', '.join(auto.PARTIAL_CANDIDATES)}) under {auto.DEFAULT_SEEDS} seeds each and averages them "
          f"[decides: {auto.DEFAULT_POLICY}] (--method-param auto:combine=1 keeps the best by {auto.DEFAULT_CRITERION} "
          "on the validation rows instead; docs/auto.md)")
    for preset, members in METHOD_PRESETS.items():
        print(f"preset {preset} (--methods {preset}): {', '.join(members)}")
    print(f"when to use what: {WHEN_TO_USE}")
    losses = sorted({METHODS.get(name).loss for name in METHODS.names()})
    print(f"losses: {', '.join(losses)}")
    print(f"weight estimators: {', '.join(ESTIMATORS.names())}")
    return 0
