"""The glue between the front ends and the core: scoring a model with its stored decision, the leak audit's
diagnostics, and the service every front end calls (mlml.service)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlml.evaluation.streamed as streamed
from mlml.evaluation import evaluate
from mlml.evaluation.policies import POLICIES, SOFT_POLICIES, posterior
from mlml.folds import make_fold
from mlml.training import TrainConfig, evaluate_model, fit, load_model

FAST = dict(num_threads=1, log=False, epochs=3, fixed_epochs=True, device="cpu")
DECISION_KEYS = ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1")


@pytest.fixture(scope="module")
def trained(yeast):
    """A bce model trained on 600 yeast rows at ratio 0.5 (validation rows carved), and 300 other rows."""
    fold = make_fold(yeast.subset(np.arange(600)), ratio=0.5, seed=0, val_fraction=0.2,
                     inputs=np.asarray(yeast.features[:600]))
    result = fit(fold.train_inputs, fold.observed_train, "bce", TrainConfig(**FAST), validation=fold.validation)
    result.label_names = list(yeast.label_names)
    q = posterior(fold.observed_train, fold.observed_val)
    return result, q, yeast.subset(np.arange(600, 900))


@pytest.mark.parametrize("streaming", [False, True], ids=["dense", "streamed"])
@pytest.mark.parametrize("policy", POLICIES)
def test_evaluate_model_scores_the_stored_decision(trained, tmp_path, monkeypatch, policy, streaming):
    """decide -> save -> load -> evaluate gives the metrics of the model's own predictions (``predict``), for every
    policy -- per-sample ones (``cardinality``: no per-class thresholds) included -- dense and streamed."""
    result, q, test = trained
    result.decide(policy, q=q if policy in SOFT_POLICIES else None, missing_share=0.4 if policy == "select" else None)
    loaded = load_model(result.save(tmp_path / policy))
    assert loaded.missing_share == (0.4 if policy == "select" else None)
    predicted = loaded.predict(test.features).astype(np.float64)
    if streaming:
        monkeypatch.setattr(streamed, "DENSE_EVALUATION_ENTRIES", 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = evaluate_model(tmp_path / policy, test, batch_size=128)
        expected = evaluate(test.labels, predicted, threshold=0.5, ranking=False)
    for key in DECISION_KEYS:
        assert got[key] == pytest.approx(expected[key], abs=1e-12), (policy, key)


def test_leak_audit_diagnostics_read_the_training_rows_of_the_whole_data_set_estimator():
    """``--weights-source complete`` fits the estimator on every row of the data set; the diagnostics must then ask
    it about the training rows' positions in the data set (``rows=fold.train``), the rows the model was trained
    with -- a direct computation of ω̄ gives the same detection figures and the same hidden-positive weights."""
    from mlml.experiments.config import GridConfig
    from mlml.experiments.trials import grid_trials, run_trial, trial_fold
    from mlml.labels import to_dense
    from mlml.weights.diagnostics import hidden_positive_detection

    config = GridConfig(datasets=["yeast"], ratios=[0.25], methods=["knn-cb-wce"], folds=4,
                        train={"epochs": 1, "fixed_epochs": True}, weights_source="complete").validate()
    trial = grid_trials(config)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_trial(trial, config)
    fold = trial_fold(trial, config)
    estimator = config.resolved_methods()["knn-cb-wce"].make_estimator()
    estimator.fit(fold.dataset.labels, features=fold.inputs)
    observed, hidden = to_dense(fold.observed_train), to_dense(fold.hidden_train).astype(bool)
    _, neg = estimator.transform(observed, rows=fold.train, features=fold.train_inputs)
    direct = hidden_positive_detection(neg, observed, hidden)
    got = record["diagnostics"]
    assert hidden.sum() <= 2000  # below the sampling limit: every hidden entry's ω̄ is stored, in order
    np.testing.assert_array_equal(got["neg_weight_hidden"], neg[hidden])
    assert got["detection_auc"] == direct["auc"] and got["detection_ap"] == direct["ap"]
    assert set(got["neg_weight_negative"]) <= set(neg[(observed == 0) & ~hidden].tolist())


def test_the_sklearn_estimator_fits_any_policy_and_predicts_with_it(yeast):
    """``MissingLabelClassifier(thresholds=POLICY)`` takes the step ``mlml train --thresholds`` takes
    (:func:`mlml.service.decide`); a per-sample decision predicts as the stored model does."""
    from mlml.sklearn import MissingLabelClassifier

    x, y = np.asarray(yeast.features[:500]), np.asarray(yeast.labels[:500], dtype=np.int8)
    clf = MissingLabelClassifier("bce", head="linear", epochs=3, fixed_epochs=True, num_threads=1, device="cpu",
                                 val_fraction=0.3, thresholds="cardinality").fit(x, y)
    assert clf.model_.decision["policy"] == "cardinality" and clf.thresholds_ is None  # per sample: none per class
    np.testing.assert_array_equal(clf.predict(x), clf.model_.predict(x))
    assert (clf.predict(x).sum(axis=1) >= 1).all()  # at least one label per row, the policy's rule


def test_the_trial_record_round_trips_and_its_documentation_is_current():
    """A record survives the store's JSON (fields this mlml does not know included), reads by attribute and, for
    older code, as a mapping; docs/trial-record.md is what ``python -m mlml.record`` generates."""
    import json
    from pathlib import Path

    from mlml.record import TrialRecord, schema_markdown
    from mlml.reports.records import check_records

    record = TrialRecord(trial_id="t", dataset="yeast", method="bce", ratio=0.5, metrics={"map": 0.5},
                         extra={"from_a_newer_mlml": [1, 2]})
    back = TrialRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back == record and back.metrics["map"] == 0.5 and back["from_a_newer_mlml"] == [1, 2]
    assert back["dataset"] == back.dataset and back.get("pr_curve") is None and "extra" not in back
    assert check_records([record.to_dict()])[0] == record
    page = Path(__file__).resolve().parents[1] / "docs" / "trial-record.md"
    assert page.read_text(encoding="utf-8") == schema_markdown()


def test_one_counting_core_behind_dense_and_streamed_decision_metrics(trained):
    """evaluate's decision metrics (``ranking=False``) and StreamedEvaluation's, block by block, come from the same
    DecisionCounts: equal to the last bit, per-class lists included."""
    from mlml.evaluation.counts import DECISION_METRICS
    from mlml.evaluation.streamed import StreamedEvaluation

    result, _, test = trained
    proba = result.predict_proba(test.features)
    labels = np.asarray(test.labels, dtype=np.int8)
    labels[::7, 2] = -1  # unknown entries are not scored, in either
    thresholds = np.linspace(0.2, 0.6, labels.shape[1])
    dense = evaluate(labels, proba, threshold=thresholds, ranking=False)
    run = StreamedEvaluation(labels, {"rule": thresholds})
    for start in range(0, len(proba), 64):
        run.update(proba[start : start + 64])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        streamed = run.result("rule")
        full = evaluate(labels, proba, threshold=thresholds)
    assert list(dense) == list(DECISION_METRICS)
    for key in DECISION_METRICS:
        assert streamed[key] == dense[key] == full[key]
    for key in ("per_class_tp", "per_class_fp", "per_class_support"):
        assert streamed[key] == full[key]
    np.testing.assert_array_equal(streamed["per_class_f1"], full["per_class_f1"])
