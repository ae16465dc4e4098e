"""Between the front ends and the core: the steps around ``make_fold`` and ``fit`` that every front end takes.

The front ends -- ``mlml train`` and ``mlml evaluate`` (:mod:`mlml.cli`), a grid trial
(:func:`mlml.experiments.run_trial`), :func:`mlml.training.evaluate_model` and the scikit-learn estimator
(:mod:`mlml.sklearn`) -- compose the core (:mod:`mlml.folds`, :func:`mlml.training.fit`,
:mod:`mlml.evaluation`) through the functions below, each step in one place, so that a fix lands everywhere at once:

* **inputs** -- :func:`dataset_inputs`: what a model reads for every row of a data set (its features, a backbone's
  cached features of its images, or the image paths for fine-tuning); :func:`model_inputs`: the same for a
  trained model, from the settings it saved.
* **recipes** -- :func:`apply_recipe`: a shipped recipe's per-label positive weights and training settings,
  under the caller's own settings; :func:`default_setup`: what the default path adds for the inputs at hand.
* **the decision posterior** -- :func:`decision_posterior`: for the threshold policies that do not trust observed
  zeros, the probability that a validation row's observed zero is a missing positive, from ONE default estimator
  (:data:`DEFAULT_POSTERIOR`) fitted on the training rows' observed labels; :func:`decide` fits a policy with it
  and stores the decision with the model.
* **scoring** -- :func:`score`: a model's metrics on labelled rows under named decision rules, on one dense score
  matrix up to :data:`~mlml.evaluation.streamed.DENSE_EVALUATION_ENTRIES` scores, beyond it batch by batch;
  :func:`stored_rule`: the rule of a model's stored decision (per class, or per sample for ``cardinality``),
  which is what a model is scored with unless a threshold is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError

#: The estimator of the decision posterior, for every front end: pairwise co-occurrence (noisy-or), fitted on the
#: training rows' observed labels. It reads labels only, so it serves image folds (whose inputs may be paths) and
#: sparse label sets alike, at the cost of one ``(n_labels, n_labels)`` table; the grid has always used it, so the
#: grid's stored policy results are unchanged (``mlml train`` used ``knn`` before; see docs/service.md).
DEFAULT_POSTERIOR = "pairwise-noisy-or"

#: A decision rule: a threshold (float), per-class thresholds ``(n_labels,)``, or a callable that maps
#: probabilities ``(n, n_labels)`` to thresholds ``(n_labels,)`` or ``(n, n_labels)`` (a row's from that row only).
Rule = float | np.ndarray | Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------------------------- inputs
def dataset_inputs(dataset: Any, *, mode: str = "frozen", backbone: str | None = None, weights: str | None = None,
                   **extract_kwargs: Any) -> Any:
    """What a model reads for every row of ``dataset`` (an :class:`mlml.data.Dataset`).

    Args:
        mode: ``frozen`` -- the data set's own features, or, when it has images, ``backbone``'s (cached) features of
            them; ``finetune`` -- the image paths (as strings).
        backbone, weights: the feature extractor for image data sets and its weights file (None: the registry's).
        extract_kwargs: passed to feature extraction (``cache_dir``, ``num_workers``...).

    Raises:
        MLMLError: fine-tuning asked of a data set without images.
    """
    images = getattr(dataset, "image_paths", None)
    if mode == "finetune":
        if images is None:
            raise MLMLError(f"train mode 'finetune' needs images; {getattr(dataset, 'name', 'the data set')} has "
                            "features only.")
        return [str(p) for p in images]
    from mlml.models.features import dataset_features

    if images is not None and backbone is not None:
        extract_kwargs.setdefault("weights", weights)
    return dataset_features(dataset, backbone=backbone if images is not None else None, **extract_kwargs)


def model_inputs(model: Any, dataset: Any, **extract_kwargs: Any) -> Any:
    """:func:`dataset_inputs` for a trained model (:class:`~mlml.training.TrainedModel`): the mode, backbone and
    backbone weights it was trained with (``model.config``)."""
    config = model.config
    return dataset_inputs(dataset, mode=config.mode, backbone=config.backbone, weights=config.backbone_weights,
                          **extract_kwargs)


def aligned_labels(dataset: Any, trained: Any) -> Any:
    """``dataset`` with its label columns in the model's order (by name; reordered columns are aligned, not refused).

    Raises:
        MLMLError: the label sets differ (naming the labels missing on either side) or the counts disagree.
    """
    n_labels = dataset.labels.shape[1]
    names = getattr(dataset, "label_names", None)
    if trained.label_names is None or names is None or list(names) == list(trained.label_names):
        if n_labels != trained.n_labels:
            raise MLMLError(f"The data set has {n_labels} labels; the model predicts {trained.n_labels}.")
        return dataset
    model_names = [str(n) for n in trained.label_names]
    missing = [n for n in model_names if n not in set(names)]
    extra = [n for n in names if n not in set(model_names)]
    if missing or extra:
        def some(values: list[str]) -> str:
            return ", ".join(map(repr, values[:5])) + (f" and {len(values) - 5} more" if len(values) > 5 else "")

        parts = ([f"lacks the model's label(s) {some(missing)}"] if missing else []) + (
            [f"has label(s) the model does not predict: {some(extra)}"] if extra else [])
        raise MLMLError(f"The data set {'; '.join(parts)}.")
    position = {name: j for j, name in enumerate(names)}
    return dataset.select_labels([position[name] for name in model_names])


# ------------------------------------------------------------------------------------------------------ recipes
def apply_recipe(name: str, method: Any, settings: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """The shipped recipe ``name`` (:mod:`mlml.recipes`) applied to ``method`` and training ``settings``.

    Returns:
        ``(method, train)``: the method with the recipe's per-label positive weights composed
        (:meth:`~mlml.methods.Method.with_positive_weights`), and the recipe's ``train`` values overridden by
        ``settings`` (what :meth:`mlml.training.TrainConfig.from_dict` takes).
    """
    from mlml.recipes import merge_recipe

    values = merge_recipe(name, train=settings)
    if values.get("positive_weights"):
        method = method.with_positive_weights(values["positive_weights"])
    return method, values["train"]


# ----------------------------------------------------------------------------------------------- training set-up
def default_setup(method: Any, inputs: Any, given: Iterable[str]) -> dict[str, Any]:
    """The training settings that ``mlml train``'s default path adds for these ``inputs``: for the recommended
    method on a sparse enough matrix, the linear head with the full-batch L-BFGS solver
    (:func:`mlml.training.lbfgs.sparse_setup`; docs/solver.md); nothing for another method, for inputs that are
    not such a matrix, or where a flag or the recipe set the head or the solver (``given``: the settings' keys).
    A key in ``given`` is never overridden."""
    from mlml.methods import RECOMMENDED_METHOD

    given = set(given)
    if getattr(method, "name", None) != RECOMMENDED_METHOD or given & {"head", "solver"}:
        return {}
    from mlml.training.lbfgs import CONVEX_LOSSES, sparse_setup

    if getattr(method, "loss", None) not in CONVEX_LOSSES:  # e.g. a loss changed by --method-param
        return {}
    return {key: value for key, value in sparse_setup(inputs).items() if key not in given}


# ------------------------------------------------------------------------------------------ the decision posterior
def decision_posterior(fold: Any, *, estimator: str = DEFAULT_POSTERIOR) -> np.ndarray:
    """``q`` ``(n_val, n_labels)``: for each observed zero of the fold's validation rows, the probability that it
    is a missing positive (:func:`mlml.evaluation.policies.posterior`), from ``estimator`` fitted on the training
    rows' observed labels (and features, for a feature-aware estimator where the fold has a feature matrix; a fold
    of image paths falls back to :data:`DEFAULT_POSTERIOR`)."""
    from mlml.evaluation.policies import posterior
    from mlml.weights import ESTIMATORS

    paths = isinstance(fold.inputs, list)
    if paths and ESTIMATORS.get(estimator).uses_features:
        estimator = DEFAULT_POSTERIOR
    return posterior(fold.observed_train, fold.observed_val, estimator=estimator,
                     features=None if paths else fold.val_inputs, train_features=None if paths else fold.train_inputs)


def fold_missing_share(fold: Any) -> float:
    """The share of missing positives of the fold's training rows, diagnosed from their observed labels (and
    features, where the fold has a feature matrix): :func:`mlml.diagnose.diagnose`'s point estimate, without its
    bootstrap; NaN where no label has enough observed positives, or the fold has too few rows to diagnose. Beyond
    ``diagnose``'s size limit, a seeded sample of rows is diagnosed (the share is a mean over entries). What the
    ``select`` policy reads: the estimate of the positives that remain, without ``diagnose``'s floor of empty rows
    (``every_row_positive=False``), which ``select``'s rules were chosen without, and where that estimate is
    missing ``select`` decides by ``pu`` (:func:`mlml.evaluation.policies.select_decision`)."""
    from mlml.diagnose import MAX_ENTRIES, diagnose

    observed = fold.observed_train
    features = None if isinstance(fold.inputs, list) else fold.train_inputs
    n, n_labels = observed.shape
    if n < 6:  # diagnose's three folds of rows need two rows each
        return float("nan")
    if n * n_labels > MAX_ENTRIES:
        rows = np.sort(np.random.default_rng(0).choice(n, MAX_ENTRIES // n_labels, replace=False))
        observed, features = observed[rows], None if features is None else features[rows]
    return float(diagnose(observed, features=features, n_bootstrap=0, every_row_positive=False).missing_share)


def decide(result: Any, fold: Any, policy: str, *, estimator: str = DEFAULT_POSTERIOR) -> Any:
    """Fit the threshold ``policy`` on the fold's validation rows and store it with the model
    (:meth:`~mlml.training.TrainResult.decide`; the soft policies read :func:`decision_posterior`, ``select`` also
    :func:`fold_missing_share`). ``fixed`` stores nothing (0.5 is every
    model's default). Returns the :class:`~mlml.evaluation.policies.Decision`, or None for ``fixed``."""
    from mlml.evaluation.policies import SOFT_POLICIES

    if policy == "fixed":
        return None
    q = decision_posterior(fold, estimator=estimator) if policy in SOFT_POLICIES else None
    share = fold_missing_share(fold) if policy == "select" and result.missing_share is None else None
    return result.decide(policy, q=q, missing_share=share)


def decision_shortfall(result: Any) -> tuple[float, float] | None:
    """``(predicted, observed)``: the mean number of labels per validation row that the result's stored decision
    predicts, and the mean number of positives observed per TRAINING row (``label_counts / n_train``: the training
    rows are many, and with most positives hidden a few hundred validation rows may hold none); None without
    validation rows or training counts. The observed positives are true ones (missing positives only add to them),
    so ``predicted < observed / 2`` (the report's "half" rule for a collapsed fold) marks a decision that misses most
    of the labels the annotators gave: the collapse of 0.5 on a model trained with most positives hidden
    (benchmarks/README.md, "The default method's time to a model and its quality": scene and medical at r = 0.75).
    A model at 0.5 on complete labels predicts somewhat fewer labels than there are (yeast, plain BCE: about 3.6
    against 4.2), hence the half."""
    proba = getattr(result, "val_proba", None)
    counts, n_train = getattr(result, "label_counts", None), getattr(result, "n_train", None)
    if proba is None or not len(proba) or counts is None or not n_train:
        return None
    observed = float(np.sum(counts) / n_train)
    predicted = float((proba >= result.decision_thresholds_for(proba)).sum(axis=1).mean())
    return predicted, observed


# ------------------------------------------------------------------------------------------------------- scoring
def stored_rule(model: Any) -> Rule:
    """The decision rule a model applies in ``predict``: its stored decision (per class, or per sample), else its
    per-class ``thresholds``, else 0.5."""
    if model.decision is not None:
        return model.decision_thresholds_for
    return np.asarray(model.thresholds, dtype=np.float64) if model.thresholds is not None else 0.5


@dataclass
class Scored:
    """What :func:`score` returns: ``metrics`` by rule name (the keys of :func:`mlml.evaluation.evaluate`; AUC and
    AP NaN where streamed), and ``proba``, the dense probabilities where they were computed at once (else None)."""

    metrics: dict[str, dict[str, Any]]
    proba: np.ndarray | None


def score(model: Any, labels: Any, inputs: Any, rules: Mapping[str, Rule], *, propensity: np.ndarray | None = None,
          batch_size: int = 1024, label_names: Sequence[str] | None = None) -> Scored:
    """A model's metrics on the rows ``inputs`` with true ``labels`` (dense or CSR), under each named rule.

    Up to :data:`~mlml.evaluation.streamed.DENSE_EVALUATION_ENTRIES` scores (rows x labels) they are computed on
    the dense probability matrix (:func:`mlml.evaluation.evaluate`); beyond, batch by batch
    (:class:`~mlml.evaluation.streamed.StreamedEvaluation`: the same precision, recall, F1 and ranking metrics,
    ROC-AUC and AP reported as NaN), so that no dense ``n x n_labels`` matrix is made.

    Args:
        model: a :class:`~mlml.training.TrainedModel` (``predict_proba``, ``iter_proba``).
        rules: name -> decision rule (see :data:`Rule`; :func:`stored_rule` gives a model's own).
        propensity: label propensities for PSP@k and PSnDCG@k (None: from ``labels``).
        label_names: the classes' names, for warnings about undefined classes (dense scoring).
    """
    from mlml.evaluation import evaluate
    from mlml.evaluation.streamed import StreamedEvaluation, dense_evaluation_fits

    if dense_evaluation_fits(*labels.shape):
        proba = model.predict_proba(inputs, batch_size=batch_size)
        return Scored({name: evaluate(labels, proba, threshold=_thresholds(rule, proba), propensity=propensity,
                                      label_names=label_names)
                       for name, rule in rules.items()}, proba)
    run = StreamedEvaluation(labels, rules)
    for block in model.iter_proba(inputs, batch_size=max(batch_size, 8192)):
        run.update(block)
    return Scored({name: run.result(name, propensity=propensity) for name in rules}, None)


def tuned_rule(result: Any) -> np.ndarray:
    """Per-class thresholds tuned on the validation rows' observed labels (:meth:`TrainResult.tune_thresholds`;
    classes without a validation positive keep 0.5, as documented, without a warning)."""
    from mlml.evaluation import UndefinedMetricWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return result.tune_thresholds()


def _thresholds(rule: Rule, proba: np.ndarray) -> Any:
    return rule(proba) if callable(rule) else rule
