"""One trial of the grid: split, hide positives in the training fold, fit weights, train, evaluate.

A trial is fully determined by its key (dataset, method, ratio, fold, seed, weights source) and by what its id
also holds: the grid's config hash (training settings, folds, scheme, ...), the method's definition (loss and
estimator with their parameters), a fingerprint of the data (labels, features or image files) and the mlml
version. Change any of them and the trial gets a new id, so a re-used run folder never passes off a stale result
as current. The split depends on (dataset, folds, seed) only, and the hidden positives on (seed, fold, ratio)
only, so every method of a grid sees exactly the same training data: method comparisons are paired.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml.exceptions import MLMLError
from mlml.experiments.cache import per_process_cache
from mlml.experiments.config import GridConfig
from mlml.labels import label_counts
from mlml.record import TrialRecord

#: Packages whose versions every trial record and ``environment.json`` keep.
VERSIONED = ("mlml", "numpy", "scipy", "scikit-learn", "torch", "iterative-stratification", "liac-arff", "river")
_MAX_DIAGNOSTIC_VALUES = 2000
_MAX_ROC_POINTS = 200
#: Larger training folds (rows x labels) are diagnosed on a seeded sample of this many entries' rows.
_MAX_DIAGNOSTIC_ENTRIES = 1 << 24


@dataclass(frozen=True)
class Trial:
    """One cell of the grid. ``method_hash`` hashes the method's definition, ``data_fingerprint`` the data
    (:func:`data_fingerprint`; empty where unknown) and ``version`` is mlml's."""

    dataset: str
    method: str
    ratio: float
    fold: int
    seed: int
    weights_source: str
    config_hash: str
    method_hash: str = ""
    data_fingerprint: str = ""
    version: str = ""

    @property
    def trial_id(self) -> str:
        key = (f"{self.dataset}|{self.method}|{self.ratio:.6f}|{self.fold}|{self.seed}|{self.weights_source}|"
               f"{self.config_hash}|{self.method_hash}|{self.data_fingerprint}|{self.version}")
        return hashlib.sha256(key.encode()).hexdigest()[:20]


def grid_trials(config: GridConfig, fingerprints: Mapping[str, str] | None = None) -> list[Trial]:
    """Every trial of the grid, in a stable order.

    Args:
        config: the validated grid.
        fingerprints: :func:`data_fingerprint` of each data SOURCE (the run folder's ``datasets.json``); a
            source missing from it gets an empty fingerprint.
    """
    from mlml import __version__

    config_hash = config.trial_hash()
    fingerprints = fingerprints or {}
    methods = {name: _definition_hash(m) for name, m in config.resolved_methods().items()}
    return [
        Trial(dataset, method, ratio, fold, seed, config.weights_source, config_hash, methods[method],
              fingerprints.get(dataset, ""), __version__)
        for dataset in config.datasets
        for seed in config.seeds
        for ratio in config.ratios
        for fold in range(config.folds)
        for method in methods
    ]


def _definition_hash(method: Any) -> str:
    return hashlib.sha256(json.dumps(method.definition(), sort_keys=True).encode()).hexdigest()[:16]


def data_fingerprint(dataset: Any) -> str:
    """A hash of what a data set feeds a trial: label names, ids, labels, features (dense or CSR) or the image
    files (path and size). Two loads of unchanged files give the same fingerprint; any change of a label, a
    feature value, a sample or an image file's size gives another."""
    digest = hashlib.sha256()

    def add(array: Any) -> None:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())

    digest.update("\x1f".join(dataset.label_names).encode())
    digest.update("\x1f".join(map(str, dataset.ids)).encode())
    for part in (dataset.labels, dataset.features):
        if part is None:
            continue
        if sp.issparse(part):
            for array in (part.data, part.indices, part.indptr):
                add(array)
        else:
            add(part)
    for path in dataset.image_paths or ():
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        digest.update(f"{path}\x1f{size}\n".encode())
    return digest.hexdigest()[:16]


def package_versions() -> dict[str, str | None]:
    """The versions of mlml and of the packages that change a trial's numbers."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hiding_seed(seed: int, fold: int, ratio: float) -> np.random.SeedSequence:
    """The seed of the positives hidden in one training fold: shared by every method of the grid."""
    return np.random.SeedSequence([seed, fold, int(round(ratio * 1_000_000))])


@per_process_cache(maxsize=4)
def _dataset(source: str, min_labels: int | None, skip_bad: bool) -> Any:
    from mlml.data import load

    return load(source, min_labels=min_labels, skip_bad=skip_bad, check_images=skip_bad)


@per_process_cache(maxsize=4)
def _features(source: str, min_labels: int | None, skip_bad: bool, backbone: str) -> np.ndarray:
    from mlml.service import dataset_inputs

    return dataset_inputs(_dataset(source, min_labels, skip_bad), backbone=backbone)


@per_process_cache(maxsize=8)
def _splits(
    source: str, min_labels: int | None, skip_bad: bool, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    from mlml.data.splits import kfold_indices

    labels = _dataset(source, min_labels, skip_bad).labels
    return kfold_indices(labels, n_splits=folds, stratified=True, random_state=seed)


def load_datasets(config: GridConfig) -> dict[str, dict[str, Any]]:
    """Load every data set of the grid once (in this process), check the grid against it, and describe it.

    Returns:
        SOURCE -> ``{"fingerprint", "name", "n_samples", "n_labels", "n_features", "images"}``.

    Raises:
        MLMLError/DataError: a data set that cannot be loaded, or one with fewer samples than folds.
    """
    described = {}
    for source in config.datasets:
        dataset = _dataset(source, config.min_labels, config.skip_bad)
        if dataset.n_samples < config.folds:
            raise MLMLError(
                f"Data set {source!r} has {dataset.n_samples} samples: too few for {config.folds} folds "
                "(every fold needs at least one test sample)."
            )
        described[source] = {
            "fingerprint": data_fingerprint(dataset),
            "name": dataset.name,
            "n_samples": dataset.n_samples,
            "n_labels": dataset.n_labels,
            "n_features": dataset.n_features,
            "images": dataset.image_paths is not None,
        }
    return described


def prepare(config: GridConfig, sources: set[str]) -> None:
    """Load each data set once and extract image features into the on-disk cache before workers start, so that
    parallel workers read the cache instead of extracting the same features side by side."""
    if config.train.get("mode") == "finetune":
        return  # fine-tuning reads the images themselves
    for source in sorted(sources):
        if _dataset(source, config.min_labels, config.skip_bad).image_paths is not None:
            _features(source, config.min_labels, config.skip_bad, config.backbone)


def trial_fold(trial: Trial, config: GridConfig) -> Any:
    """The :class:`~mlml.folds.Fold` of a trial: the grid's split of its data set, the positives hidden for
    (seed, fold, ratio) -- the same for every method --, the validation rows carved with the trial's seed."""
    from mlml.folds import make_fold
    from mlml.service import dataset_inputs

    data_key = (trial.dataset, config.min_labels, config.skip_bad)
    dataset = _dataset(*data_key)
    train_config = config.train_config(trial.seed)
    if train_config.mode == "finetune":  # end to end: the model reads the images
        inputs = dataset_inputs(dataset, mode="finetune")
    else:
        inputs = _features(*data_key, config.backbone)
    return make_fold(
        dataset, _splits(*data_key, config.folds, trial.seed)[trial.fold], ratio=trial.ratio, scheme=config.scheme,
        seed=trial.seed, val_fraction=train_config.val_fraction,
        hiding=hiding_seed(trial.seed, trial.fold, trial.ratio), inputs=inputs,
    )


def run_trial(trial: Trial, config: GridConfig) -> TrialRecord:
    """Run one trial and return its record (:class:`mlml.record.TrialRecord`)."""
    from mlml.training import fit

    method = config.resolved_methods()[trial.method]
    fold = trial_fold(trial, config)
    started = time.perf_counter()
    leaked = None
    if trial.weights_source == "complete" and not method.oracle:
        # The seed code's leak, reproduced on purpose: weights fitted on the complete labels of every sample.
        leaked = method.make_estimator()
        if leaked.adaptive:
            raise MLMLError(
                f"--weights-source complete reproduces the seed code's fixed weights; the method "
                f"{method.name!r} refreshes its weights from the model during training, so it has no such variant."
            )
        leaked.fit(fold.dataset.labels, features=fold.inputs if leaked.uses_features else None)
    weights_s = time.perf_counter() - started

    started = time.perf_counter()
    result = fit(
        fold.train_inputs, fold.observed_train, method, config.train_config(trial.seed),
        validation=fold.validation,
        hidden=fold.hidden_train if method.oracle else None,  # nothing but the oracle ever sees the mask
        estimator=leaked, estimator_rows=None if leaked is None else fold.train,
    )
    train_s = time.perf_counter() - started

    started = time.perf_counter()
    propensity = result.propensity()  # from the training rows' observed labels
    metrics, scores, streamed_tuned = _test_metrics(result, fold, propensity)
    eval_s = time.perf_counter() - started
    started = time.perf_counter()
    if scores is not None and fold.validation is not None:
        decisions = _policy_metrics(result, fold, scores, config, _scalars(metrics))
    else:  # a recipe without validation rows (the seed's) has no fitted policy; streamed: 0.5 and tuned only
        decisions = {} if streamed_tuned is None else {"tuned": {"metrics": streamed_tuned}}
    policy_s = time.perf_counter() - started

    return _record(
        trial, config, method, status="done",
        metrics=_scalars(metrics),
        # a recipe without validation rows (the seed's) has no tuned or other fitted policy
        metrics_tuned=decisions.get("tuned", {}).get("metrics"),
        metrics_policies={name: d["metrics"] for name, d in decisions.items()} or None,
        own_policy=method.threshold_policy,
        cardinality=None if scores is None else _cardinality(fold.test_labels, scores, decisions),
        pr_curve=None if scores is None else _pr_curve(fold.test_labels, scores),
        per_class={
            "names": list(fold.dataset.label_names),
            "tp": _ints(metrics["per_class_tp"]),
            "ap": _floats(metrics["per_class_ap"]),
            "support": _ints(metrics["per_class_support"]),
            "train_frequency": _ints(label_counts(fold.observed_train) + label_counts(fold.observed_val)),
        },
        diagnostics=_diagnostics(result, method, fold, trial, None if leaked is None else fold.train),
        timings={"weights_s": weights_s, "train_s": train_s, "eval_s": eval_s, "policy_s": policy_s},
        n_train=int(len(fold.train) + len(fold.val)),
        n_test=int(len(fold.test)),
        epochs=len(result.history),
        val_score=_val_score(result),
        history=result.history,  # per-epoch figures (train_loss, val_loss, val_score, lr, seconds): tracking
    )


def _record(trial: Trial, config: GridConfig, method: Any, **outcome: Any) -> TrialRecord:
    """The one place a :class:`~mlml.record.TrialRecord` is built: the trial's key and identity, the grid's
    recipe and scheme, the method's definition and the package versions, then ``outcome``."""
    return TrialRecord(
        **asdict(trial), trial_id=trial.trial_id, oracle=bool(method is not None and method.oracle),
        recipe=config.recipe, scheme=config.scheme,
        method_definition=None if method is None else method.definition(), versions=package_versions(),
        **outcome,
    )


def _policy_metrics(result: Any, fold: Any, scores: np.ndarray, config: GridConfig,
                    ranked: dict[str, float]) -> dict[str, Any]:
    """Every threshold policy fitted on the validation rows and scored on the test rows:
    ``{policy: {"metrics", "predicted"}}`` (``predicted``: the mean number of labels predicted per test row); the
    ranking metrics, which no threshold changes, are ``ranked``'s."""
    from mlml.evaluation import UndefinedMetricWarning, evaluate
    from mlml.evaluation.policies import POLICIES, fit_policies
    from mlml.service import decision_posterior

    q = decision_posterior(fold, estimator=config.policy_posterior)
    out = {}
    with warnings.catch_warnings():  # classes without a validation positive keep 0.5, as documented
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for policy, decision in fit_policies(POLICIES, result.val_proba, fold.observed_val, q=q).items():
            thresholds = decision.thresholds(scores)
            decided = evaluate(fold.test_labels, scores, threshold=thresholds, ranking=False)
            out[policy] = {"metrics": {**ranked, **_scalars(decided)},
                           "predicted": float((scores >= thresholds).sum(axis=1).mean())}
    return out


def _cardinality(truth: Any, scores: np.ndarray, decisions: dict[str, Any]) -> dict[str, float]:
    """Mean labels per test row: true (``"true"``), at 0.5 (``"fixed"``) and under each fitted policy."""
    from mlml.labels import positives_per_sample

    out = {"true": float(np.mean(positives_per_sample(truth))), "fixed": float((scores >= 0.5).sum(axis=1).mean())}
    out.update({name: d["predicted"] for name, d in decisions.items()})
    return out


def _pr_curve(truth: Any, scores: np.ndarray) -> dict[str, list[float]]:
    """The micro precision-recall curve of the test scores (entries with known labels), at most
    ``_MAX_ROC_POINTS`` points evenly spaced along it."""
    from sklearn.metrics import precision_recall_curve

    from mlml.labels import to_dense

    y = to_dense(truth)
    known = y != -1
    precision, recall, _ = precision_recall_curve((y[known] == 1).astype(np.int8), scores[known])
    keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), _MAX_ROC_POINTS)).astype(int))
    return {"precision": _floats(precision[keep]), "recall": _floats(recall[keep])}


def _test_metrics(result: Any, fold: Any,
                  propensity: np.ndarray | None) -> tuple[dict[str, Any], np.ndarray | None, dict[str, float] | None]:
    """The test fold's metrics at 0.5, with the dense test scores; beyond
    :data:`~mlml.evaluation.streamed.DENSE_EVALUATION_ENTRIES` scores, batch by batch instead, with no dense scores
    (None) but the metrics at the thresholds tuned on the validation rows (None without them)."""
    from mlml.evaluation.streamed import dense_evaluation_fits
    from mlml.service import score, tuned_rule

    rules: dict[str, Any] = {"fixed": 0.5}
    if not dense_evaluation_fits(*fold.test_labels.shape) and fold.validation is not None:
        rules["tuned"] = tuned_rule(result)  # the dense path measures it with the other policies
    scored = score(result, fold.test_labels, fold.test_inputs, rules, propensity=propensity)
    tuned = scored.metrics.get("tuned")
    return scored.metrics["fixed"], scored.proba, None if tuned is None else _scalars(tuned)


def _val_score(result: Any) -> float | None:
    """The kept epoch's validation score (mAP on the validation rows' OBSERVED labels), None without them."""
    if not result.history or not 0 <= result.best_epoch < len(result.history):
        return None
    score = result.history[result.best_epoch].get("val_score")
    return None if score is None or not math.isfinite(score) else float(score)


def run_trial_safely(trial: Trial, config: GridConfig) -> TrialRecord:
    """:func:`run_trial`, but a trial that raises becomes a ``failed`` record with its traceback."""
    try:
        return run_trial(trial, config)
    except Exception:  # noqa: BLE001 -- the grid goes on; the traceback is stored with the trial
        return _record(trial, config, config.resolved_methods().get(trial.method), status="failed",
                       error=traceback.format_exc())


def _diagnostics(result: Any, method: Any, fold: Any, trial: Trial,
                 estimator_rows: np.ndarray | None = None) -> dict[str, Any] | None:
    """How well the trained ω̄ separates the hidden positives from the true negatives of the training rows of the
    fold (adaptive estimators: their final state). ``estimator_rows``: the training rows' positions among the rows
    the estimator was fitted on, as ``fit`` took them (the leak audit's estimator is fitted on the whole data set:
    ``fold.train``); None: fitted on exactly the training rows."""
    from sklearn.metrics import roc_curve

    from mlml.labels import to_dense
    from mlml.weights.diagnostics import hidden_positive_detection

    estimator, hidden = result.estimator, fold.hidden_train
    if method.oracle or not estimator.detects_missing or not (hidden.nnz if sp.issparse(hidden) else hidden.any()):
        return None
    rng = np.random.default_rng(hiding_seed(trial.seed, trial.fold, trial.ratio))
    rows = np.arange(len(fold.train))
    n_labels = fold.observed_train.shape[1]
    if len(rows) * n_labels > _MAX_DIAGNOSTIC_ENTRIES:  # a large fold: a seeded sample of its rows
        rows = np.sort(rng.choice(rows, max(1, _MAX_DIAGNOSTIC_ENTRIES // n_labels), replace=False))
        hidden = hidden[rows]
    hidden = hidden.toarray() if sp.issparse(hidden) else hidden
    observed = to_dense(method.training_labels(fold.observed_train[rows]))  # what the method trained on
    zero = observed == 0
    if not zero.any():
        return None  # (partial labels read as they are have no suspect zero to weigh)
    features = fold.rows(fold.train[rows]) if estimator.uses_features else None
    fitted = rows if estimator_rows is None else np.asarray(estimator_rows)[rows]  # the rule of weights/: rows=
    _, neg = estimator.transform(observed, rows=fitted, features=features)
    detection = hidden_positive_detection(neg, observed, hidden)
    complete = to_dense(fold.dataset.labels[fold.train[rows]])
    fpr, tpr, _ = roc_curve(hidden[zero], 1.0 - neg[zero])
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), _MAX_ROC_POINTS)).astype(int))
    return {
        "neg_weight_hidden": _sample(neg[hidden], rng),
        "neg_weight_negative": _sample(neg[zero & (complete == 0)], rng),
        "detection_auc": float(detection["auc"]),
        "detection_ap": float(detection["ap"]),
        "roc_fpr": _floats(fpr[keep]),
        "roc_tpr": _floats(tpr[keep]),
    }


def _sample(values: np.ndarray, rng: np.random.Generator) -> list[float]:
    if len(values) > _MAX_DIAGNOSTIC_VALUES:
        values = rng.choice(values, _MAX_DIAGNOSTIC_VALUES, replace=False)
    return _floats(values)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if np.isscalar(v)}


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def _ints(values: Any) -> list[int]:
    return [int(v) for v in np.asarray(values)]
