"""The ``mlml`` command line: argparse front, no logic of its own.

Every verb calls library functions; bad input (``MLMLError``, ``DataError``, missing files) becomes one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mlml._io import check_outputs
from mlml._validation import first_duplicate
from mlml.exceptions import MLMLError
from mlml.recipes import RECIPES

T = TypeVar("T")

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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer seed >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _csv_items(text: str, parse: Callable[[str], T], what: str) -> list[T]:
    """Comma-separated values, each parsed; an empty list or a duplicate is an error (a grid would run nothing,
    or every trial of the duplicate twice)."""
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
    values = []
    for item in items:
        try:
            values.append(parse(item))
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {item!r} in {text!r}") from None
    duplicate = first_duplicate(values)
    if duplicate is not None:
        raise argparse.ArgumentTypeError(f"{duplicate!r} is listed twice in {text!r}")
    return values


def _csv_fractions(text: str) -> list[float]:
    return _csv_items(text, _fraction, "numbers in [0, 1]")


def _csv_seeds(text: str) -> list[int]:
    return _csv_items(text, _seed, "integer seeds >= 0")


def _csv_names(text: str) -> list[str]:
    return _csv_items(text, str, "names")


def _method_param(text: str) -> tuple[str | None, str, Any]:
    """``[METHOD:]KEY=VALUE`` -> ``(method, key, value)``; the value is read as YAML (numbers, true, null)."""
    import yaml

    target, sep, value = text.partition("=")
    method, _, key = target.rpartition(":")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected [METHOD:]KEY=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return (method.strip() or None), key.strip(), parsed


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (naming the command and the argument), exit 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``mlml`` argument parser with every verb."""
    parser = _Parser(
        prog="mlml",
        description="Multi-label classification with missing labels.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SOURCE_HELP,
    )
    parser.add_argument("--version", action="version", version=f"mlml {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    p = verbs.add_parser("simulate", help="hide positives of a labels file")
    p.add_argument("--labels", required=True, type=Path, help="complete labels CSV (id, then one 0/1 column a class)")
    p.add_argument("--ratio", type=_fraction, help="missing ratio in [0, 1] (not for single-positive)")
    p.add_argument("--scheme", default="per-sample", choices=CLI_SCHEMES,
                   help="per-sample (the paper's, default), uniform, single-positive")
    p.add_argument("--keep-at-least-one", action="store_true", help="never hide a sample's last positive")
    p.add_argument("--seed", type=_seed, default=0)
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
    p.add_argument("--method-param", action="append", type=_method_param, default=[], metavar="KEY=VALUE",
                   help="a parameter of the method's loss or estimator, e.g. expected_positives=2.9 (repeatable)")
    p.add_argument("--recipe", choices=RECIPES, default="default",
                   help="default (mlml's trainer) or seed (the seed code's recipe: seed-mlp head, Adadelta "
                        "lr 0.1, batch 32, 20 epochs, no validation, class-balanced positive weights)")
    p.add_argument("--ratio", type=_fraction, default=0.0, help="hide this ratio of positives first (simulation)")
    p.add_argument("--scheme", default="per-sample", choices=CLI_SCHEMES)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    p.add_argument("--backbone", default="efficientnet_lite0", help="for image data sets")
    p.add_argument("--weights", type=Path, help="local backbone weights file (timm:/torchvision: backbones)")
    p.add_argument("--head", help="linear, mlp (default) or seed-mlp")
    p.add_argument("--optimizer", choices=["adamw", "adadelta", "sgd"])
    p.add_argument("--lr", type=float)
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
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
    p.add_argument("--recipe", choices=RECIPES,
                   help="default (mlml's trainer) or seed (the seed code's recipe; see `mlml train --help`)")
    p.add_argument("--ratios", type=_csv_fractions, help="e.g. 0,0.25,0.5,0.75")
    p.add_argument("--methods", type=_csv_names, help="e.g. bce,im-wce,cb-wce or 'all'")
    p.add_argument("--method-param", action="append", type=_method_param, default=[], metavar="METHOD:KEY=VALUE",
                   help="a parameter of a listed method's loss or estimator, e.g. epr:expected_positives=2.9")
    p.add_argument("--folds", type=int)
    p.add_argument("--seed", type=_csv_seeds, dest="seeds", help="seed(s), e.g. 0 or 0,1,2")
    p.add_argument("--scheme", choices=CLI_SCHEMES, help="simulation scheme (default per-sample)")
    p.add_argument("--weights-source", choices=["observed", "complete"],
                   help="observed (default, correct) or complete (the seed code's leak, labelled as such)")
    p.add_argument("--thresholds", choices=["fixed", "tuned", "both"], help="what the report shows")
    p.add_argument("--backbone", help="image backbone for image data sets (default efficientnet_lite0)")
    p.add_argument("--min-labels", type=int, help="drop samples with fewer labels before splitting")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (reported), do not fail")
    p.add_argument("--epochs", type=_positive_int, help="override the training epochs")
    p.add_argument("--jobs", type=_positive_int, default=1, help="parallel worker processes")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--out", type=Path, help="run folder (default: a new folder under runs/)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_reproduce)

    p = verbs.add_parser("report", help="tables, figures and an HTML page for a run folder")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--thresholds", choices=["fixed", "tuned", "both"], help="default: the run's config")
    p.add_argument("--all", action="store_true", dest="all_trials",
                   help="report every trial the store holds, whatever grid it belongs to")
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
    """Run ``mlml`` with ``argv`` (default: the process's arguments) and return the exit code.

    Every error ends as one line on stderr and exit code 2 (``MLML_DEBUG=1`` re-raises it, with its traceback);
    an interrupted run exits 130 and keeps its finished work.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: keep main's int contract
        return int(exc.code or 0)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"mlml {args.verb}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- keeps Python's exit-time flush from failing again
        return 141
    except Exception as exc:  # noqa: BLE001 -- one line for the user; MLML_DEBUG=1 shows the traceback
        if os.environ.get("MLML_DEBUG"):
            raise
        print(f"mlml {args.verb}: error: {error_message(exc)}", file=sys.stderr)
        return 2


def error_message(exc: BaseException) -> str:
    """One line a user can act on for any exception a command can raise."""
    if isinstance(exc, MLMLError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == 28:  # ENOSPC
            return f"{where}no space left on the device; files written before are kept. Free some space and run again."
        reason = exc.strerror or str(exc)
        return f"{where}{reason}" if where else str(exc)
    if isinstance(exc, MemoryError):
        detail = str(exc) or "an allocation failed"
        return f"not enough memory: {detail}. Use a smaller data set or batch, or a machine with more memory."
    if isinstance(exc, RecursionError):
        return "an input is nested too deeply to read (a JSON or YAML file with thousands of levels?)."
    return (f"unexpected {type(exc).__name__}: {exc} (this may be a bug in mlml; run again with MLML_DEBUG=1 for "
            "the traceback)")


def _version() -> str:
    from mlml import __version__

    return __version__


def _simulate(args: argparse.Namespace) -> int:
    from mlml.labels import read_labels_csv, write_matrix_csv
    from mlml.simulate import hide_positives

    check_outputs({"--out": args.out, "--hidden-out": args.hidden_out}, {"--labels": args.labels})
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
    """The registered method ``name`` with ``--method-param`` values applied."""
    from mlml.methods import METHODS

    method = METHODS.get(name)
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
    from mlml.folds import make_fold
    from mlml.labels import write_matrix_csv
    from mlml.models.features import dataset_features
    from mlml.recipes import recipe_values
    from mlml.training import TrainConfig, fit, init_from_env

    if args.out.exists() and not args.out.is_dir():
        raise MLMLError(f"--out {args.out} is a file; the model is written to a folder.")
    method = _method(args.method, args.method_param)
    recipe = recipe_values(args.recipe)
    if recipe.get("positive_weights"):
        method = method.with_positive_weights(recipe["positive_weights"])
    flags = {
        "mode": args.mode, "backbone": args.backbone if args.mode == "finetune" else None, "head": args.head,
        "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
        "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
        "finetune_last_k_blocks": args.finetune_last_k,
        "checkpoint_dir": str(args.checkpoint_dir) if args.checkpoint_dir else None,
        "backbone_weights": str(args.weights) if args.weights else None,
    }
    settings = {**(recipe.get("train") or {}), **{k: v for k, v in flags.items() if v is not None}}
    if args.fixed_epochs:
        settings["fixed_epochs"] = True
    config = TrainConfig.from_dict(settings)  # every training setting checked before the data is read
    if args.thresholds == "tuned" and config.val_fraction == 0:
        raise MLMLError(f"--thresholds tuned needs validation rows; the {args.recipe!r} recipe trains without them.")
    if method.oracle and args.ratio == 0 and args.scheme == "per-sample":
        raise MLMLError(f"The oracle method {method.name!r} needs hidden positives: give --ratio > 0.")
    dataset = _load_source(args)
    outputs = {f"--out {name}": args.out / name for name in ("model.pt", "model.json", "observed.csv", "hidden.csv")}
    check_outputs(outputs, _source_files(args.source, dataset))
    info = init_from_env()  # a no-op unless launched by torchrun
    images = dataset.image_paths is not None
    if args.mode == "finetune":
        if not images:
            raise MLMLError(f"--mode finetune needs images; {dataset.name} has features only.")
        inputs = [str(p) for p in dataset.image_paths]
    else:
        inputs = dataset_features(dataset, backbone=args.backbone if images else None, weights=args.weights)
        if images:
            config.backbone = args.backbone  # recorded, so that `mlml evaluate` extracts the same features
    fold = make_fold(dataset, ratio=None if args.scheme == "single-positive" else args.ratio, scheme=args.scheme,
                     seed=args.seed, val_fraction=config.val_fraction, inputs=inputs)
    result = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation,
                 hidden=fold.hidden_train if method.oracle else None)
    result.label_names = list(dataset.label_names)
    if args.thresholds == "tuned":
        result.tune_thresholds()
    if info.rank != 0:
        return 0
    result.save(args.out)
    _, observed, hidden = fold.training_fold()
    write_matrix_csv(args.out / "observed.csv", dataset.ids, dataset.label_names, observed)
    if hidden.any() or args.ratio > 0:
        write_matrix_csv(args.out / "hidden.csv", dataset.ids, dataset.label_names, hidden.astype("int8"))
    best = result.history[result.best_epoch] if result.history else {}
    score = best.get("val_score", float("nan"))
    selection = (f"validation mAP on observed labels {score:.4f}" if score == score
                 else f"validation loss {best.get('val_loss', float('nan')):.4f}" if "val_loss" in best
                 else "no validation rows: the last epoch")
    print(f"{method.name} ({args.recipe} recipe) on {dataset.name}: {len(result.history)} epochs, best epoch "
          f"{result.best_epoch} ({selection}) -> {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mlml._io import write_text
    from mlml.training import evaluate_model

    model_files = {f"model file {p}": args.model / p for p in ("model.pt", "model.json")}
    check_outputs({"--out": args.out}, {**model_files, **_source_files(args.source)})
    metrics = evaluate_model(args.model, _load_source(args), threshold=args.threshold)
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (list, tuple)) and not hasattr(v, "shape")}
    for name, value in scalars.items():
        print(f"{name:<24} {value:.4f}" if isinstance(value, float) else f"{name:<24} {value}")
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

    check_outputs({"--out": args.out}, _source_files(args.source))
    dataset = _load_source(args)
    check_outputs({"--out": args.out}, _source_files(args.source, dataset))
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
    from mlml.losses import LOSSES
    from mlml.methods import METHODS
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
        args.config, recipe=args.recipe, datasets=datasets, ratios=args.ratios, methods=args.methods,
        method_params=_grid_method_params(args.method_param), folds=args.folds,
        seeds=args.seeds, scheme=args.scheme, weights_source=args.weights_source, thresholds=args.thresholds,
        backbone=args.backbone, min_labels=args.min_labels,
        skip_bad=args.skip_bad or None, train_overrides={"epochs": args.epochs} if args.epochs is not None else None,
    )
    run_dir = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    records = run_grid(config, run_dir, jobs=args.jobs, scheduler=args.scheduler, progress=not args.no_progress)
    wall = time.perf_counter() - started
    report = write_report(records, run_dir, expected=_expected(config, run_dir), thresholds=config.thresholds)
    print(terminal_table(summarize(records, thresholds=config.thresholds)))
    print(f"report: {report}")
    failed = sum(r["status"] == "failed" for r in records)
    print(f"{len(records)} trials in {run_dir} ({failed} failed); this invocation took {wall:.1f} s")
    return 1 if failed else 0


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


if __name__ == "__main__":
    raise SystemExit(main())
