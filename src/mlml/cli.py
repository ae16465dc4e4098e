"""The ``mlml`` command line: argparse front, no logic of its own.

Every verb calls library functions; bad input (``MLMLError``, ``DataError``, missing files) becomes one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mlml.exceptions import MLMLError

SOURCE_HELP = """\
SOURCE syntax (one for every command):
  yeast                         the built-in MULAN yeast (shipped by the river wheel)
  mulan:DIR                     a folder with one MULAN data set: its .xml and .arff file(s), train+test merged
  mulan:FILE.arff,FILE.xml      one MULAN ARFF file and its label XML
  mulan:A.arff,B.arff,FILE.xml  several ARFF files (e.g. train and test) of one data set, merged
  coco:ANN.json[,IMAGE_DIR]     MS-COCO instances JSON (2014/2017) and its image folder
  nuswide:ROOT                  NUS-WIDE in its official layout
  openclipart[:ROOT]            Debian's openclipart-png + openclipart-svg (keywords as labels;
                                default ROOT /usr/share/openclipart)
  csv:LABELS.csv[,FEATURES]     a labels file, joined with features (.npy/.npz/.parquet/.csv) or an image folder
"""


# The schemes a command line can ask for; 'per-class' needs per-class ratios (Python API).
CLI_SCHEMES = ("per-sample", "uniform", "single-positive")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _csv_floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _csv_ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _csv_names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The ``mlml`` argument parser with every verb."""
    parser = argparse.ArgumentParser(
        prog="mlml",
        description="Multi-label classification with missing labels.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SOURCE_HELP,
    )
    parser.add_argument("--version", action="version", version=f"mlml {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    p = verbs.add_parser("simulate", help="hide positives of a labels file")
    p.add_argument("--labels", required=True, type=Path, help="complete labels CSV (id, then one 0/1 column a class)")
    p.add_argument("--ratio", type=float, help="missing ratio in [0, 1] (not for single-positive)")
    p.add_argument("--scheme", default="per-sample", choices=CLI_SCHEMES,
                   help="per-sample (the paper's, default), uniform, single-positive")
    p.add_argument("--keep-at-least-one", action="store_true", help="never hide a sample's last positive")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="observed labels CSV to write")
    p.add_argument("--hidden-out", type=Path, help="CSV of the hidden entries (1 = hidden) to write")
    p.set_defaults(handler=_simulate)

    p = verbs.add_parser("weights", help="confidence weights ω̄ for every entry of a labels file")
    p.add_argument("--labels", required=True, type=Path, help="observed labels CSV")
    p.add_argument("--estimator", default="pattern", help="a weight estimator (see `mlml methods`)")
    p.add_argument("--fit-labels", type=Path, help="fit on this labels CSV instead of --labels")
    p.add_argument("--hidden", type=Path, help="hidden-entries CSV: also score how well 1 - ω̄ finds them")
    p.add_argument("--out", required=True, type=Path, help="CSV of ω̄ (same id and class columns)")
    p.set_defaults(handler=_weights)

    p = verbs.add_parser("data", help="inspect data sets")
    data_verbs = p.add_subparsers(dest="data_verb", required=True, metavar="COMMAND")
    p = data_verbs.add_parser(
        "info", help="statistics of a data set", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE")
    _add_filter_flags(p)
    p.set_defaults(handler=_data_info)

    p = verbs.add_parser(
        "train", help="train a model on a data set (optionally hiding positives first)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--method", default="cb-wce", help="a registered method (see `mlml methods`)")
    p.add_argument("--ratio", type=float, default=0.0, help="hide this ratio of positives first (simulation)")
    p.add_argument("--scheme", default="per-sample", choices=CLI_SCHEMES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    p.add_argument("--backbone", default="efficientnet_lite0", help="for image data sets")
    p.add_argument("--weights", type=Path, help="local backbone weights file (timm:/torchvision: backbones)")
    p.add_argument("--head", default="mlp", help="linear, mlp or seed-mlp")
    p.add_argument("--optimizer", choices=["adamw", "adadelta", "sgd"])
    p.add_argument("--lr", type=float)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--fixed-epochs", action="store_true", help="train exactly --epochs, no early stopping")
    p.add_argument("--finetune-last-k", type=int, help="finetune: train only the last k backbone blocks")
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoint-dir", type=Path, help="checkpoint every epoch there; resume a killed run")
    p.add_argument("--thresholds", choices=["fixed", "tuned"], default="fixed",
                   help="tuned: per-class thresholds chosen on the validation rows' observed labels")
    _add_filter_flags(p)
    p.set_defaults(handler=_train)

    p = verbs.add_parser(
        "evaluate", help="metrics of a trained model on a data set's labels",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SOURCE_HELP,
    )
    p.add_argument("model", type=Path, help="model folder written by `mlml train`")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--threshold", type=float, help="one threshold for every class (default: the model's)")
    p.add_argument("--out", type=Path, help="JSON file for the metrics")
    _add_filter_flags(p)
    p.set_defaults(handler=_evaluate)

    p = verbs.add_parser(
        "suggest", help="rank the (sample, label) pairs most likely to be missing positives",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE", help="a data set whose labels are the observed ones")
    p.add_argument("--method", default="auto", choices=["auto", "labels", "knn"],
                   help="labels: co-occurrence only; knn: refined by feature-space neighbours; auto: knn where "
                        "the data set has features or images")
    p.add_argument("--prior", default="pairwise-noisy-or",
                   help="the labels-only estimator of the co-occurrence prior, e.g. denoising-mlp (slower, "
                        "better on COCO)")
    p.add_argument("--top-k", type=_positive_int, default=100)
    p.add_argument("--backbone", default="efficientnet_lite0", help="for image data sets")
    p.add_argument("--out", type=Path, help="CSV of the ranked suggestions with their evidence")
    p.add_argument("--show", type=_positive_int, default=20, help="rows of the terminal table")
    _add_filter_flags(p)
    p.set_defaults(handler=_suggest)

    p = verbs.add_parser("methods", help="list registered methods, losses and weight estimators")
    p.set_defaults(handler=_methods)

    p = verbs.add_parser(
        "reproduce",
        help="run the paper's experiment grid (default: built-in yeast)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SOURCE_HELP,
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="data set(s); default: yeast")
    p.add_argument("--dataset", action="append", dest="datasets_flag", metavar="SOURCE", help="same as SOURCE")
    p.add_argument("--config", type=Path, help="YAML grid config; flags override it")
    p.add_argument("--ratios", type=_csv_floats, help="e.g. 0,0.25,0.5,0.75")
    p.add_argument("--methods", type=_csv_names, help="e.g. bce,im-wce,cb-wce or 'all'")
    p.add_argument("--folds", type=int)
    p.add_argument("--seed", type=_csv_ints, dest="seeds", help="seed(s), e.g. 0 or 0,1,2")
    p.add_argument("--scheme", choices=CLI_SCHEMES, help="simulation scheme (default per-sample)")
    p.add_argument("--weights-source", choices=["observed", "complete"],
                   help="observed (default, correct) or complete (the seed code's leak, labelled as such)")
    p.add_argument("--thresholds", choices=["fixed", "tuned", "both"], help="what the report shows")
    p.add_argument("--backbone", help="image backbone for image data sets (default efficientnet_lite0)")
    p.add_argument("--min-labels", type=int, help="drop samples with fewer labels before splitting")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (reported), do not fail")
    p.add_argument("--epochs", type=int, help="override the training epochs")
    p.add_argument("--jobs", type=_positive_int, default=1, help="parallel worker processes")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--out", type=Path, help="run folder (default: a new folder under runs/)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_reproduce)

    p = verbs.add_parser("report", help="tables, figures and an HTML page for a run folder")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--thresholds", choices=["fixed", "tuned", "both"], help="default: the run's config")
    p.set_defaults(handler=_report)
    return parser


def _add_filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-labels", type=int, help="drop samples with fewer positive labels")
    p.add_argument("--min-label-frequency", type=int, help="drop labels with fewer positive samples")
    p.add_argument("--drop-empty", action="store_true", help="drop samples with no positive label")
    p.add_argument("--drop-duplicates", action="store_true",
                   help="keep one of each group of identical samples (same features and labels)")
    p.add_argument("--check-images", action="store_true", help="check that every image is readable")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (reported), do not fail")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlml`` with ``argv`` (default: the process's arguments) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: keep main's int contract
        return int(exc.code or 0)
    try:
        return int(args.handler(args) or 0)
    except (MLMLError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"mlml {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mlml {args.verb}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- keeps Python's exit-time flush from failing again
        return 141


def _version() -> str:
    from mlml import __version__

    return __version__


def _simulate(args: argparse.Namespace) -> int:
    from mlml.labels import read_labels_csv, write_matrix_csv
    from mlml.simulate import hide_positives

    table = read_labels_csv(args.labels, allow_unknown=True)
    observed, hidden = hide_positives(
        table.values, args.ratio, scheme=args.scheme, keep_at_least_one=args.keep_at_least_one,
        random_state=args.seed,
    )
    write_matrix_csv(args.out, table.ids, table.names, observed)
    if args.hidden_out:
        write_matrix_csv(args.hidden_out, table.ids, table.names, hidden.astype("int8"))
    print(f"hid {int(hidden.sum())} of {int((table.values == 1).sum())} positives in {len(table.ids)} samples "
          f"-> {args.out}")
    return 0


def _weights(args: argparse.Namespace) -> int:
    from mlml.labels import read_labels_csv, write_matrix_csv
    from mlml.weights import ESTIMATORS

    table = read_labels_csv(args.labels)
    estimator = ESTIMATORS.create(args.estimator)
    if estimator.needs_hidden or estimator.uses_features:
        raise MLMLError(f"The estimator {args.estimator!r} needs more than a labels file; "
                        "use it through `mlml reproduce` or the Python API.")
    fit_table = read_labels_csv(args.fit_labels) if args.fit_labels else table
    if fit_table.names != table.names:
        raise MLMLError(f"{args.fit_labels}: its class columns differ from those of {args.labels}.")
    started = time.perf_counter()
    _, neg = estimator.fit(fit_table.values).transform(table.values)
    seconds = time.perf_counter() - started
    write_matrix_csv(args.out, table.ids, table.names, neg)
    print(f"{args.estimator}: ω̄ for {neg.shape[0]} x {neg.shape[1]} entries in {seconds:.3f} s -> {args.out}")
    if args.hidden:
        from mlml.weights.diagnostics import hidden_positive_detection

        hidden = read_labels_csv(args.hidden, allow_unknown=False)
        if list(hidden.ids) != list(table.ids) or hidden.names != table.names:
            raise MLMLError(f"{args.hidden}: its ids or class columns differ from those of {args.labels}.")
        scores = hidden_positive_detection(neg, table.values, hidden.values.astype(bool))
        print(f"finding the hidden positives with 1 - ω̄: ROC-AUC {scores['auc']:.4f}, AP {scores['ap']:.4f} "
              f"({scores['n_hidden']} hidden among {scores['n_candidates']} zero entries)")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from mlml.data import describe, format_info

    print(format_info(describe(_load_source(args))))
    return 0


def _load_source(args: argparse.Namespace) -> object:
    from mlml.data import load

    return load(
        args.source, min_labels=args.min_labels, min_label_frequency=args.min_label_frequency,
        drop_empty=args.drop_empty, drop_duplicates=args.drop_duplicates,
        check_images=args.check_images or args.skip_bad, skip_bad=args.skip_bad,
    )


def _train(args: argparse.Namespace) -> int:
    from mlml.evaluation import tune_thresholds
    from mlml.labels import to_dense, write_matrix_csv
    from mlml.losses import METHODS
    from mlml.models.features import dataset_features
    from mlml.simulate import hide_positives
    from mlml.training import TrainConfig, fit, init_from_env

    method = METHODS.get(args.method)
    dataset = _load_source(args)
    info = init_from_env()  # a no-op unless launched by torchrun
    labels = to_dense(dataset.labels)
    observed, hidden = labels, None
    if args.ratio > 0 or args.scheme != "per-sample":
        ratio = None if args.scheme == "single-positive" else args.ratio
        observed, hidden = hide_positives(labels, ratio, scheme=args.scheme, random_state=args.seed)
    images = dataset.image_paths is not None
    settings = {
        "mode": args.mode, "head": args.head, "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
        "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
        "finetune_last_k_blocks": args.finetune_last_k,
        "checkpoint_dir": str(args.checkpoint_dir) if args.checkpoint_dir else None,
        "backbone": args.backbone if images else None,
        "backbone_weights": str(args.weights) if args.weights else None,
    }
    config = TrainConfig.from_dict({k: v for k, v in settings.items() if v is not None})
    if args.fixed_epochs:
        config.fixed_epochs = True
    if args.mode == "finetune":
        if not images:
            raise MLMLError(f"--mode finetune needs images; {dataset.name} has features only.")
        inputs = list(dataset.image_paths)
    else:
        inputs = dataset_features(dataset, backbone=args.backbone if images else None, weights=args.weights)
    if method.oracle and hidden is None:
        raise MLMLError(f"The oracle method {method.name!r} needs hidden positives: give --ratio > 0.")
    result = fit(inputs, observed, method, config, hidden=hidden)
    result.label_names = list(dataset.label_names)
    if args.thresholds == "tuned":
        result.thresholds = tune_thresholds(observed[result.val_index], result.val_proba).tolist()
    if info.rank != 0:
        return 0
    result.save(args.out)
    write_matrix_csv(args.out / "observed.csv", dataset.ids, dataset.label_names, observed)
    if hidden is not None:
        write_matrix_csv(args.out / "hidden.csv", dataset.ids, dataset.label_names, hidden.astype("int8"))
    best = result.history[result.best_epoch] if result.history else {}
    score = best.get("val_score", float("nan"))
    selection = (f"validation mAP on observed labels {score:.4f}" if score == score
                 else f"validation loss {best.get('val_loss', float('nan')):.4f}")
    print(f"{method.name} on {dataset.name}: {len(result.history)} epochs, best epoch {result.best_epoch} "
          f"({selection}) -> {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mlml.training import evaluate_model

    metrics = evaluate_model(args.model, _load_source(args), threshold=args.threshold)
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (list, tuple)) and not hasattr(v, "shape")}
    for name, value in scalars.items():
        print(f"{name:<24} {value:.4f}" if isinstance(value, float) else f"{name:<24} {value}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(metrics, indent=1, default=_jsonable), encoding="utf-8")
        print(f"metrics -> {args.out}")
    return 0


def _jsonable(value: object) -> object:
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return tolist()


def _suggest(args: argparse.Namespace) -> int:
    from mlml.suggest import format_table, suggest, write_suggestions_csv

    dataset = _load_source(args)
    features = None
    if args.method != "labels" and (dataset.features is not None or dataset.image_paths is not None):
        from mlml.models.features import dataset_features

        features = dataset_features(dataset, backbone=args.backbone if dataset.image_paths is not None else None)
    rows = suggest(dataset.labels, features=features, label_names=list(dataset.label_names), ids=dataset.ids,
                   top_k=args.top_k, method=args.method, prior=args.prior)
    print(format_table(rows, args.show))
    if args.out:
        print(f"{len(rows)} suggestions -> {write_suggestions_csv(rows, args.out)}")
    return 0


def _methods(args: argparse.Namespace) -> int:
    from mlml.losses import LOSSES, METHODS
    from mlml.weights import ESTIMATORS

    print("methods (mlml reproduce --methods):")
    for name in METHODS.names():
        method = METHODS.get(name)
        tag = (" [oracle]" if method.oracle else "") + (f" (= {method.alias_of})" if method.alias_of else "")
        print(f"  {name:<22} {method.loss} + {method.estimator}{tag}  {method.description}")
    print(f"losses: {', '.join(LOSSES.names())}")
    print(f"weight estimators: {', '.join(ESTIMATORS.names())}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from mlml.experiments import load_config, run_grid
    from mlml.reports import summarize, terminal_table, write_report

    datasets = (args.sources or []) + (args.datasets_flag or []) or None
    config = load_config(
        args.config, datasets=datasets, ratios=args.ratios, methods=args.methods, folds=args.folds,
        seeds=args.seeds, scheme=args.scheme, weights_source=args.weights_source, thresholds=args.thresholds,
        backbone=args.backbone, min_labels=args.min_labels,
        skip_bad=args.skip_bad or None, train_overrides={"epochs": args.epochs} if args.epochs is not None else None,
    )
    run_dir = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    records = run_grid(config, run_dir, jobs=args.jobs, scheduler=args.scheduler, progress=not args.no_progress)
    wall = time.perf_counter() - started
    report = write_report(records, run_dir, expected=_expected(config), thresholds=config.thresholds)
    print(terminal_table(summarize(records, thresholds=config.thresholds)))
    print(f"report: {report}")
    failed = sum(r["status"] == "failed" for r in records)
    print(f"{len(records)} trials in {run_dir} ({failed} failed); this invocation took {wall:.1f} s")
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from mlml.experiments import ResultStore, load_config
    from mlml.experiments.runner import STORE_NAME, grid_records
    from mlml.reports import summarize, terminal_table, write_report

    store_path = args.run_dir / STORE_NAME
    if not store_path.is_file():
        raise MLMLError(f"{args.run_dir}: no {STORE_NAME}; is this a run folder of `mlml reproduce`?")
    config_path = args.run_dir / "config.yaml"
    config = load_config(config_path) if config_path.is_file() else None
    store = ResultStore(store_path)
    records = grid_records(config, store) if config else store.records()
    thresholds = args.thresholds or (config.thresholds if config else "fixed")
    report = write_report(records, args.run_dir, expected=_expected(config) if config else None,
                          thresholds=thresholds)
    print(terminal_table(summarize(records, thresholds=thresholds)))
    print(f"report: {report}")
    return 0


def _expected(config: object) -> list[dict[str, object]]:
    from dataclasses import asdict

    from mlml.experiments import grid_trials

    return [{**asdict(t), "trial_id": t.trial_id} for t in grid_trials(config)]  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
