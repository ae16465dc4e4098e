"""What a grid trial measures after training: the test fold's metrics (0.5 and every threshold policy), the
cardinality and precision-recall curve of its decisions, and the weight diagnostics (how ω̄ finds the hidden
positives). :func:`mlml.experiments.trials.run_trial` puts them into its :class:`~mlml.record.TrialRecord`."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

_MAX_DIAGNOSTIC_VALUES = 2000
_MAX_ROC_POINTS = 200
#: Larger training folds (rows x labels) are diagnosed on a seeded sample of this many entries' rows.
_MAX_DIAGNOSTIC_ENTRIES = 1 << 24


def policy_metrics(result: Any, fold: Any, scores: np.ndarray, posterior: str,
                    ranked: dict[str, float], missing_share: float | None, *, chosen: bool = False) -> dict[str, Any]:
    """Every threshold policy fitted on the validation rows and scored on the test rows:
    ``{policy: {"metrics", "predicted"}}`` (``predicted``: the mean number of labels predicted per test row); the
    ranking metrics, which no threshold changes, are ``ranked``'s. ``missing_share``: the fold's diagnosed share
    of missing positives (:func:`mlml.service.fold_missing_share`), which ``select`` reads; None: every policy but
    ``select``. ``chosen``: also the decision the model itself stores (``auto``'s, fitted with its own posterior),
    under the name ``chosen``."""
    from mlml.evaluation import UndefinedMetricWarning
    from mlml.evaluation.policies import BASE_POLICIES, POLICIES, fit_policies
    from mlml.service import decision_posterior

    q = decision_posterior(fold, estimator=posterior)
    out = {}
    with warnings.catch_warnings():  # classes without a validation positive keep 0.5, as documented
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for policy, decision in fit_policies(POLICIES if missing_share is not None else BASE_POLICIES,
                                             result.val_proba, fold.observed_val, q=q,
                                             missing_share=missing_share).items():
            out[policy] = _decided(fold, scores, decision.thresholds(scores), ranked)
        if chosen and result.decision is not None:
            out["chosen"] = _decided(fold, scores, result.decision_thresholds_for(scores), ranked)
    return out


def _decided(fold: Any, scores: np.ndarray, thresholds: Any, ranked: dict[str, float]) -> dict[str, Any]:
    """One decision rule's test metrics and its mean number of labels per test row."""
    from mlml.evaluation import evaluate

    decided = evaluate(fold.test_labels, scores, threshold=thresholds, ranking=False)
    return {"metrics": {**ranked, **scalars(decided)}, "predicted": float((scores >= thresholds).sum(axis=1).mean())}


def cardinality(truth: Any, scores: np.ndarray, decisions: dict[str, Any]) -> dict[str, float]:
    """Mean labels per test row: true (``"true"``), at 0.5 (``"fixed"``) and under each fitted policy."""
    from mlml.labels import positives_per_sample

    out = {"true": float(np.mean(positives_per_sample(truth))), "fixed": float((scores >= 0.5).sum(axis=1).mean())}
    out.update({name: d["predicted"] for name, d in decisions.items()})
    return out


def pr_curve(truth: Any, scores: np.ndarray) -> dict[str, list[float]]:
    """The micro precision-recall curve of the test scores (entries with known labels), at most
    ``_MAX_ROC_POINTS`` points evenly spaced along it."""
    from sklearn.metrics import precision_recall_curve

    from mlml.labels import to_dense

    y = to_dense(truth)
    known = y != -1
    precision, recall, _ = precision_recall_curve((y[known] == 1).astype(np.int8), scores[known])
    keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), _MAX_ROC_POINTS)).astype(int))
    return {"precision": floats(precision[keep]), "recall": floats(recall[keep])}


def test_metrics(result: Any, fold: Any,
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
    return scored.metrics["fixed"], scored.proba, None if tuned is None else scalars(tuned)


def val_score(result: Any) -> float | None:
    """The kept epoch's validation score (mAP on the validation rows' OBSERVED labels), None without them."""
    if not result.history or not 0 <= result.best_epoch < len(result.history):
        return None
    score = result.history[result.best_epoch].get("val_score")
    return None if score is None or not math.isfinite(score) else float(score)


def diagnostics(result: Any, method: Any, fold: Any, seed: np.random.SeedSequence,
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
    rng = np.random.default_rng(seed)
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
        "roc_fpr": floats(fpr[keep]),
        "roc_tpr": floats(tpr[keep]),
    }


def _sample(values: np.ndarray, rng: np.random.Generator) -> list[float]:
    if len(values) > _MAX_DIAGNOSTIC_VALUES:
        values = rng.choice(values, _MAX_DIAGNOSTIC_VALUES, replace=False)
    return floats(values)


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if np.isscalar(v)}


def floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def ints(values: Any) -> list[int]:
    return [int(v) for v in np.asarray(values)]
