"""The ``mlml`` argument parser: every verb, its flags and their types (values checked as they are parsed, by
:mod:`mlml.cli.argtypes`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlml.cli.argtypes import (
    _csv_fractions,
    _csv_names,
    _csv_seeds,
    _fraction,
    _method_param,
    _positive_float,
    _positive_int,
    _seed,
    _threads,
    _track,
)
from mlml.cli.commands import (
    _data_info,
    _diagnose,
    _evaluate,
    _methods,
    _simulate,
    _suggest,
    _version,
    _weights,
)
from mlml.cli.decisions import _decide, _predict
from mlml.cli.grid import _report, _reproduce
from mlml.cli.train import _train
from mlml.evaluation.policies import POLICIES
from mlml.methods.catalog import RECOMMENDED_METHOD
from mlml.recipes import RECIPES

THRESHOLD_CHOICES = (*POLICIES, "both", "own", "all")


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
  openimages:HUMAN_LABELS.csv[,CLASS_DESCRIPTIONS.csv][,IMAGE_DIR]
                                Open Images human-verified labels (partial: 1 present, 2 verified absent,
                                -1 unannotated), classes named by the descriptions file, images <ImageID>.jpg
  csv:LABELS.csv[,FEATURES]     a labels file, joined with features (.npy/.npz/.parquet/.csv) or an image folder
  xc:FILE[,TEST_FILE]           the Extreme Classification Repository's text format (header 'n_samples
                                n_features n_labels', then 'l1,l2,... f:v f:v ...' a line); train then test rows
"""


# The schemes a command line can ask for; 'per-class' needs per-class ratios (Python API). With 'partial'
# (Durand et al.'s partial labels) the ratio is the KNOWN proportion of the labels.


CLI_SCHEMES = ("per-sample", "uniform", "single-positive", "partial")


TRACK_HELP = ("log to MLflow (needs mlml[mlflow]): params, per-epoch figures, final metrics, artifacts; the store: "
              "--tracking-uri")


TRACKING_URI_HELP = ("the MLflow store, the same for train and reproduce (implies --track mlflow); default: "
                     "$MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder (MLflow 3's default); "
                     "e.g. http://host:5000, runs/mlflow.db")


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Help with the epilogs as written and every option's default shown (None, False and empty ones left out)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (naming the command and the argument), exit 2; its help
    shows the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``mlml`` argument parser with every verb."""
    parser = _Parser(
        prog="mlml",
        description="Multi-label classification with missing labels.",
        formatter_class=_Formatter,
        epilog=SOURCE_HELP,
    )
    parser.add_argument("--version", action="version", version=f"mlml {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    p = verbs.add_parser("simulate", help="hide positives of a labels file (or make its labels partial)")
    p.add_argument("--labels", required=True, type=Path, help="complete labels CSV (id, then one 0/1 column a class)")
    p.add_argument("--ratio", type=_fraction,
                   help="missing ratio in [0, 1] (not for single-positive); with --scheme partial the known proportion")
    p.add_argument("--scheme", default="per-sample", choices=CLI_SCHEMES,
                   help="per-sample (the paper's, default), uniform, single-positive, or partial (Durand et al.: keep "
                        "each label with probability RATIO, kept negatives become verified negatives 2, the rest "
                        "unannotated -1)")
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
        "info", help="statistics of a data set", formatter_class=_Formatter,
        epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE")
    _add_filter_flags(p)
    p.set_defaults(handler=_data_info)

    p = verbs.add_parser(
        "diagnose", help="estimate the share of missing positives, overall and per label",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE", help="a data set whose labels are the observed ones")
    p.add_argument("--features", choices=["auto", "none"], default="auto",
                   help="auto (default): where the source has features (image sources: backbone features), "
                        "estimates from the features, the labels and both, the tightest kept; none: the labels alone")
    p.add_argument("--backbone", default="efficientnet_lite0", help="for image data sets")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the intervals (default 200)")
    p.add_argument("--estimator", choices=["bbe-tightest", "bbe-quantile"], default="bbe-tightest",
                   help="bbe-tightest (default): BBE at delta 0.7, the 0.05 quantile of the labels' estimates; "
                        "bbe-quantile: the first version (delta 0.1, the 0.1 quantile); docs/diagnose.md")
    p.add_argument("--min-positives", type=_positive_int, default=10,
                   help="labels with fewer observed positives are named and left out of the overall figure "
                        "(default 10)")
    p.add_argument("--rows-may-be-empty", action="store_true",
                   help="some samples truly have no label: do not read the samples without an observed positive "
                        "as missing at least one (by default they set a floor under the figure)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--show", type=_positive_int, default=15, help="labels listed in the terminal (default 15)")
    p.add_argument("--out", type=Path, help="JSON file: missing_share (estimate, low, high), per_label, advice")
    _add_filter_flags(p)
    p.set_defaults(handler=_diagnose)

    p = verbs.add_parser(
        "train", help="train a model on a data set (optionally hiding positives first)",
        formatter_class=_Formatter, epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--out", required=True, type=Path,
                   help="model folder to write (model.pt, model.json, and the observed/hidden labels: observed.csv "
                        "and hidden.csv, or observed.txt and hidden.txt in the XC format for sparse labels)")
    p.add_argument("--method", default=RECOMMENDED_METHOD,
                   help="a registered method (see `mlml methods`), or auto (chooses among candidates; "
                        "docs/auto.md); the default is the one chosen on the development grids (with --thresholds "
                        "own: its own policy)")
    p.add_argument("--method-param", action="append", type=_method_param, default=[], metavar="KEY=VALUE",
                   help="a parameter of the method's loss or estimator, e.g. expected_positives=2.9 (repeatable)")
    p.add_argument("--recipe", choices=RECIPES, default="default",
                   help="default (mlml's trainer) or seed (the seed code's recipe: seed-mlp head, Adadelta "
                        "lr 0.1, batch 32, 20 epochs, no validation, class-balanced positive weights)")
    p.add_argument("--ratio", type=_fraction, default=0.0,
                   help="hide this ratio of positives first (simulation); with --scheme partial: keep this proportion "
                        "of the labels")
    p.add_argument("--scheme", default="per-sample", choices=CLI_SCHEMES)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    p.add_argument("--backbone", default="efficientnet_lite0", help="for image data sets")
    p.add_argument("--weights", type=Path, help="local backbone weights file (timm:/torchvision: backbones)")
    p.add_argument("--head", help="linear, mlp (default; the recommended method on a sparse bag of words: linear "
                                  "with --solver lbfgs, docs/solver.md) or seed-mlp")
    p.add_argument("--optimizer", choices=["adamw", "adadelta", "sgd"])
    p.add_argument("--solver", choices=["minibatch", "lbfgs"],
                   help="minibatch (default: --optimizer over batches) or lbfgs (full-batch L-BFGS; --head linear and "
                        "a convex weighted cross-entropy only; docs/performance.md)")
    p.add_argument("--lr", type=_positive_float)
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--fixed-epochs", action="store_true", help="train exactly --epochs, no early stopping")
    p.add_argument("--finetune-last-k", type=int, help="finetune: train only the last k backbone blocks")
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoint-dir", type=Path, help="checkpoint every epoch there; resume a killed run")
    p.add_argument("--thresholds", choices=[*POLICIES, "own"], default="own",
                   help="the decision rule stored with the model: fixed (0.5), tuned (per class on the validation "
                        "rows' observed labels), expected / calibrated / cardinality / pu (observed zeros not trusted; "
                        "see mlml.evaluation.policies), select (the one of those six with the highest micro-F1 "
                        "estimated on held-out validation rows, corrected by the diagnosed missing share; 0.5 unless "
                        "its lead is clear), or own "
                        "(the method's own policy; `mlml methods` shows it); "
                        "`mlml decide` changes it later without retraining")
    p.add_argument("--num-threads", type=_threads, default="auto", metavar="N|auto",
                   help="torch threads while training; auto: 1 for models whose training step is small (most "
                        "feature heads: more threads only synchronise), more for large ones (mlml._threads)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress lines on stderr")
    p.add_argument("--track", type=_track, metavar="mlflow[:URI]",
                   help=TRACK_HELP + "; one run, the model logged as an MLflow model (pyfunc)")
    p.add_argument("--tracking-uri", metavar="URI", help=TRACKING_URI_HELP)
    _add_filter_flags(p)
    p.set_defaults(handler=_train)

    p = verbs.add_parser(
        "evaluate", help="metrics of a trained model on a data set's labels",
        formatter_class=_Formatter, epilog=SOURCE_HELP,
    )
    p.add_argument("model", type=Path, help="model folder written by `mlml train`")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--threshold", type=_fraction,
                   help="one threshold in [0, 1] for every class (default: the model's)")
    p.add_argument("--thresholds", choices=[*POLICIES, "own"], metavar="POLICY",
                   help="refit this threshold policy on the model's stored validation rows and score its decisions "
                        f"(the model folder is not changed): {', '.join(POLICIES)} or own")
    p.add_argument("--out", type=Path, help="JSON file for the metrics")
    _add_filter_flags(p)
    p.set_defaults(handler=_evaluate)

    p = verbs.add_parser(
        "predict", help="probabilities and decisions of a trained model for new samples (no labels needed)",
        formatter_class=_Formatter,
        epilog="SAMPLES: any SOURCE below (its labels are ignored); csv:IDS.csv,FEATURES where IDS.csv may hold the "
               "id column alone; or a bare features file with ids (.npz with 'ids' and 'features', .csv or "
               ".parquet with an id column), a .npy (ids = row numbers) or an image folder (ids = file stems).\n\n"
               "wide: id, predicted (decided labels joined by '|'), one probability column per label;\n"
               "      with --top-k: id, predicted, label_1, probability_1, ... (best first)\n"
               "long: id, label, probability, decision; with --top-k only the k best labels, with a rank column\n\n"
               + SOURCE_HELP,
    )
    p.add_argument("model", type=Path, help="model folder written by `mlml train`")
    p.add_argument("source", metavar="SAMPLES")
    p.add_argument("--out", required=True, type=Path, help="predictions CSV to write (streamed; .gz compresses)")
    p.add_argument("--format", choices=["wide", "long"], default="wide", help="table layout (see below)")
    p.add_argument("--top-k", type=_positive_int, help="only each sample's k most probable labels")
    p.add_argument("--thresholds", choices=[*POLICIES, "own"], metavar="POLICY",
                   help="decide with this policy refitted on the model's validation rows (default: the model's "
                        "stored decision)")
    p.add_argument("--batch-size", type=_positive_int, default=4096, help="samples scored at a time")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_predict)

    p = verbs.add_parser("decide", help="refit a trained model's decision rule on its validation rows and save it")
    p.add_argument("model", type=Path, help="model folder written by `mlml train` (its model.json is updated)")
    p.add_argument("--thresholds", required=True, choices=[*POLICIES, "own"], metavar="POLICY",
                   help=f"the threshold policy: {', '.join(POLICIES)} or own (the method's own)")
    p.set_defaults(handler=_decide)

    p = verbs.add_parser(
        "suggest", help="rank the (sample, label) pairs most likely to be missing positives",
        formatter_class=_Formatter, epilog=SOURCE_HELP,
    )
    p.add_argument("source", metavar="SOURCE", help="a data set whose labels are the observed ones")
    p.add_argument("--method", default="auto", choices=["auto", "labels", "knn"],
                   help="auto: every piece of evidence (co-occurrence prior, neighbour vote, model probabilities) "
                        "weighted by what ranks re-hidden positives back best; knn: Bayes' rule with unit weights; "
                        "labels: co-occurrence only (default: %(default)s)")
    p.add_argument("--model", type=Path, help="model folder written by `mlml train`: its probabilities as evidence")
    p.add_argument("--oof-folds", type=int, default=None,
                   help="out-of-fold one-vs-rest logistic-regression probabilities as evidence, K folds (0: none; "
                        "default: 4 for tabular features up to 2,000,000 rows x labels)")
    p.add_argument("--labels", help="suggest only these labels (comma-separated names)")
    p.add_argument("--per-label-cap", type=_positive_int, help="at most N suggestions per label")
    p.add_argument("--min-score", type=_fraction, help="only suggestions with score >= this probability")
    p.add_argument("--calibration", default="missing-share", choices=["missing-share", "none"],
                   help="missing-share: scores shifted (ranking kept) to sum to the missing positives that diagnose "
                        "estimates; none: the method's own scores (auto: fitted on re-hidden positives) "
                        "(default: %(default)s)")
    p.add_argument("--missing-share", type=_fraction, help="the share of positives missing, if known (else estimated)")
    p.add_argument("--algorithm", default="auto", choices=["auto", "brute", "tree", "hnsw"],
                   help="neighbour search: auto = exact up to 20,000 rows or 16 features, faiss HNSW beyond "
                        "(pip install 'mlml[ann]') (default: %(default)s)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the re-hiding and the folds (default: %(default)s)")
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
        formatter_class=_Formatter,
        epilog=SOURCE_HELP,
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="data set(s); default: yeast")
    p.add_argument("--dataset", action="append", dest="datasets_flag", metavar="SOURCE", help="same as SOURCE")
    p.add_argument("--config", type=Path, help="YAML grid config; flags override it")
    p.add_argument("--recipe", choices=RECIPES,
                   help="default (mlml's trainer) or seed (the seed code's recipe; see `mlml train --help`)")
    p.add_argument("--ratios", type=_csv_fractions,
                   help="e.g. 0,0.25,0.5,0.75 (missing ratios; known proportions with --scheme partial)")
    p.add_argument("--methods", type=_csv_names,
                   help="e.g. bce,im-wce,cb-wce, 'all' or 'field' (the single-positive field's table)")
    p.add_argument("--method-param", action="append", type=_method_param, default=[], metavar="METHOD:KEY=VALUE",
                   help="a parameter of a listed method's loss or estimator, e.g. epr:expected_positives=2.9")
    p.add_argument("--folds", type=int)
    p.add_argument("--seed", type=_csv_seeds, dest="seeds", help="seed(s), e.g. 0 or 0,1,2")
    p.add_argument("--scheme", choices=CLI_SCHEMES,
                   help="simulation scheme (default per-sample; partial: the ratios are known proportions)")
    p.add_argument("--weights-source", choices=["observed", "complete"],
                   help="observed (default, correct) or complete (the seed code's leak, labelled as such)")
    p.add_argument("--val-set-variant", choices=["observed", "complete", "both"],
                   help="labels of the validation rows that select the kept epoch: observed (default), complete "
                        "(the single-positive papers' default; trials named METHOD@complete-val) or both")
    p.add_argument("--thresholds", choices=THRESHOLD_CHOICES,
                   help="what the report shows: a policy, both (fixed and tuned), own (each method's own policy "
                        "beside 0.5) or all; every policy is measured (select only where shown or a method's "
                        "own: it diagnoses each training fold)")
    p.add_argument("--backbone", help="image backbone for image data sets (default efficientnet_lite0)")
    p.add_argument("--min-labels", type=int, help="drop samples with fewer labels before splitting")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (reported), do not fail")
    p.add_argument("--epochs", type=_positive_int, help="override the training epochs")
    p.add_argument("--jobs", type=_positive_int, default=1, help="parallel worker processes")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--out", type=Path, help="run folder (default: a new folder under runs/)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--track", type=_track, metavar="mlflow[:URI]",
                   help=TRACK_HELP + "; one parent run per grid (aggregates, report), a child run per trial (every "
                                     "policy's metrics)")
    p.add_argument("--tracking-uri", metavar="URI", help=TRACKING_URI_HELP)
    p.set_defaults(handler=_reproduce)

    p = verbs.add_parser("report", help="tables, figures and an HTML page for a run folder")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--thresholds", choices=THRESHOLD_CHOICES, help="default: the run's config")
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
