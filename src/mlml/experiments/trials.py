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
import os
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

import mlml.experiments.measures as measures
from mlml.exceptions import MLMLError
from mlml.experiments.cache import per_process_cache
from mlml.experiments.config import GridConfig
from mlml.labels import label_counts
from mlml.record import TrialRecord

#: Packages whose versions every trial record and ``environment.json`` keep.
VERSIONED = ("mlml", "numpy", "scipy", "scikit-learn", "torch", "iterative-stratification", "liac-arff", "river")


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
        if dataset.image_paths is None and (dataset.features is None or config.train.get("mode") == "finetune"):
            has, needs = (("features only", "images (train mode 'finetune')") if dataset.features is not None
                          else ("labels only", "features or images"))
            raise MLMLError(f"Data set {source!r} has {has}: every trial trains on {needs}.")
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
        dataset, _splits(*data_key, config.folds, trial.seed)[trial.fold],
        ratio=None if config.scheme == "single-positive" else trial.ratio, scheme=config.scheme,  # one positive kept
        seed=trial.seed, val_fraction=train_config.val_fraction,
        hiding=hiding_seed(trial.seed, trial.fold, trial.ratio), inputs=inputs,
    )


def run_trial(trial: Trial, config: GridConfig) -> TrialRecord:
    """Run one trial and return its record (:class:`mlml.record.TrialRecord`): the fold, the leak audit's
    estimator if asked for, training, then what :mod:`mlml.experiments.measures` measures."""
    from mlml.auto import fit_auto, is_auto
    from mlml.training import fit

    method = config.resolved_methods()[trial.method]
    fold = trial_fold(trial, config)
    started = time.perf_counter()
    leaked = _leaked_estimator(method, fold) if trial.weights_source == "complete" and not method.oracle else None
    timings = {"weights_s": time.perf_counter() - started}

    started = time.perf_counter()
    auto = is_auto(method)
    if auto:  # its candidates trained and one chosen on the validation rows (mlml.auto)
        result = fit_auto(fold, config.train_config(trial.seed), method)
    else:
        result = fit(
            fold.train_inputs, fold.observed_train, method, config.train_config(trial.seed),
            validation=fold.validation_for(method.val_set_variant),
            hidden=fold.hidden_train if method.oracle else None,  # nothing but the oracle ever sees the mask
            estimator=leaked, estimator_rows=None if leaked is None else fold.train,
        )
    timings["train_s"] = time.perf_counter() - started
    share = (lambda: _missing_share(trial, config, fold)) if measures_select(config) else None
    outcome = _measure(result, fold, config, timings, share, chosen=auto)  # auto: its own decision, as "chosen"
    return _record(
        trial, config, method, status="done", **outcome, own_policy="chosen" if auto else method.threshold_policy,
        auto_choice=getattr(result, "auto_choice", None),  # auto: what it chose and why
        diagnostics=measures.diagnostics(result, method, fold, hiding_seed(trial.seed, trial.fold, trial.ratio),
                                         None if leaked is None else fold.train),
        n_train=int(len(fold.train) + len(fold.val)), n_test=int(len(fold.test)), epochs=len(result.history),
        val_score=measures.val_score(result),
        history=result.history,  # per-epoch figures (train_loss, val_loss, val_score, lr, seconds): tracking
    )


def _leaked_estimator(method: Any, fold: Any) -> Any:
    """The seed code's leak, reproduced on purpose: the method's estimator fitted on the complete labels of every
    sample of the data set (``--weights-source complete``)."""
    leaked = method.make_estimator()
    if leaked.adaptive:
        raise MLMLError(
            f"--weights-source complete reproduces the seed code's fixed weights; the method "
            f"{method.name!r} refreshes its weights from the model during training, so it has no such variant."
        )
    return leaked.fit(fold.dataset.labels, features=fold.inputs if leaked.uses_features else None)


#: The diagnosed missing share of each training fold this process has seen (every method of a cell shares it).
_SHARES: dict[tuple[Any, ...], float] = {}


def measures_select(config: GridConfig) -> bool:
    """Whether the grid's trials measure the ``select`` policy: when the report shows it (``thresholds`` ``select``
    or ``all``) or a method decides with it (``own``); it costs one ``diagnose`` per training fold and process, which
    the other policies do not need."""
    if config.thresholds in ("select", "all"):
        return True
    return config.thresholds == "own" and any(  # a method's own policy, or auto's (its ``policy`` parameter)
        "select" in (getattr(m, "threshold_policy", None), getattr(m, "policy", None))
        for m in config.resolved_methods().values())


def _missing_share(trial: Trial, config: GridConfig, fold: Any) -> float:
    """:func:`mlml.service.fold_missing_share` of the trial's training fold, once per fold and process."""
    from mlml.service import fold_missing_share

    key = (trial.dataset, trial.ratio, trial.fold, trial.seed, config.scheme, config.folds, config.min_labels,
           config.skip_bad, config.backbone, config.train_config(trial.seed).val_fraction)
    if key not in _SHARES:
        if len(_SHARES) >= 64:
            _SHARES.clear()
        _SHARES[key] = fold_missing_share(fold)
    return _SHARES[key]


def _measure(result: Any, fold: Any, config: GridConfig, timings: dict[str, float],
             missing_share: Callable[[], float] | None, *, chosen: bool = False) -> dict[str, Any]:
    """The test fold's measurements as record fields (``timings`` gains ``eval_s`` and ``policy_s``);
    ``missing_share`` gives the fold's diagnosed share of missing positives (what ``select`` reads), computed only
    where policies are fitted; None: ``select`` is not measured (:func:`measures_select`). ``chosen``: the model's
    own stored decision is measured too (``auto``)."""
    started = time.perf_counter()
    propensity = result.propensity()  # from the training rows' observed labels
    metrics, scores, streamed_tuned = measures.test_metrics(result, fold, propensity)
    timings["eval_s"] = time.perf_counter() - started
    started = time.perf_counter()
    if scores is not None and fold.validation is not None:
        decisions = measures.policy_metrics(result, fold, scores, config.policy_posterior, measures.scalars(metrics),
                                            None if missing_share is None else missing_share(), chosen=chosen)
    else:  # a recipe without validation rows (the seed's) has no fitted policy; streamed: 0.5 and tuned only
        decisions = {} if streamed_tuned is None else {"tuned": {"metrics": streamed_tuned}}
    timings["policy_s"] = time.perf_counter() - started
    return {
        "metrics": measures.scalars(metrics),
        # a recipe without validation rows (the seed's) has no tuned or other fitted policy
        "metrics_tuned": decisions.get("tuned", {}).get("metrics"),
        "metrics_policies": {name: d["metrics"] for name, d in decisions.items()} or None,
        "cardinality": None if scores is None else measures.cardinality(fold.test_labels, scores, decisions),
        "pr_curve": None if scores is None else measures.pr_curve(fold.test_labels, scores),
        "per_class": {
            "names": list(fold.dataset.label_names),
            "tp": measures.ints(metrics["per_class_tp"]),
            "ap": measures.floats(metrics["per_class_ap"]),
            "support": measures.ints(metrics["per_class_support"]),
            "train_frequency": measures.ints(label_counts(fold.observed_train) + label_counts(fold.observed_val)),
        },
        "timings": timings,
    }


def _record(trial: Trial, config: GridConfig, method: Any, **outcome: Any) -> TrialRecord:
    """The one place a :class:`~mlml.record.TrialRecord` is built: the trial's key and identity, the grid's
    recipe and scheme, the method's definition and the package versions, then ``outcome``."""
    return TrialRecord(
        **asdict(trial), trial_id=trial.trial_id, oracle=bool(method is not None and method.oracle),
        recipe=config.recipe, scheme=config.scheme,
        method_definition=None if method is None else method.definition(), versions=package_versions(),
        **outcome,
    )


TRIAL_WARNINGS = "_warnings"
"""The key (in a record's ``extra``) that carries the warnings its trial raised, ``[(category, message), ...]``
without repeats, to the process that runs the grid (which reports them once for the grid, then drops the key
before storing)."""


def run_trial_safely(trial: Trial, config: GridConfig) -> TrialRecord:
    """:func:`run_trial`, but a trial that raises becomes a ``failed`` record with its traceback; the warnings it
    raised travel with the record (:data:`TRIAL_WARNINGS`) instead of being printed, trial after trial."""
    # catch_warnings swaps process-wide state (not thread-safe): trials run side by side in one process's threads
    # (a Dask worker's) may collect each other's warnings, or miss some; the grid's report of them is a summary.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = _run_trial_or_failure(trial, config)
    seen: dict[tuple[type[Warning], str], None] = {}
    for item in caught:
        seen.setdefault((item.category, str(item.message)), None)
    record.extra[TRIAL_WARNINGS] = list(seen)
    return record


def _run_trial_or_failure(trial: Trial, config: GridConfig) -> TrialRecord:
    try:
        return run_trial(trial, config)
    except Exception:  # noqa: BLE001 -- the grid goes on; the traceback is stored with the trial
        return _record(trial, config, config.resolved_methods().get(trial.method), status="failed",
                       error=traceback.format_exc())
