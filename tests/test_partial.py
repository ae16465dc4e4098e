"""Partial annotations through the layers (issue 14): folds, the trainer, methods, the grid, the CLI, suggest, the
report."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlml.cli import main
from mlml.exceptions import MLMLError
from mlml.folds import make_fold
from mlml.labels import read_labels_csv, write_matrix_csv
from mlml.losses import WeightedBCE
from mlml.methods import METHODS, Method
from mlml.training import TrainConfig, fit
from mlml.weights import ESTIMATORS

FAST = dict(num_threads=1, log=False, epochs=2, fixed_epochs=True, device="cpu")


@pytest.fixture(scope="module")
def yeast(yeast):
    """The first 300 rows of the shared ``yeast`` (this module's tests run on them)."""
    return yeast.subset(np.arange(300))


def _partial(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Labels with every state: positives, suspect zeros, verified negatives and unannotated entries."""
    rng = np.random.default_rng(seed)
    out = np.asarray(labels, dtype=np.int8).copy()
    u = rng.random(out.shape)
    out[(out == 0) & (u < 0.4)] = 2
    out[u > 0.75] = -1
    return out


class Spy(WeightedBCE):
    """weighted-bce that records its set-up labels and every batch."""

    def __init__(self):
        super().__init__()
        self.setup_rows, self.batches = None, []

    def setup(self, observed):
        self.setup_rows = np.asarray(observed).copy()

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):
        self.batches.append((targets.clone(), weights.clone(), index.clone(), known.clone(), suspect.clone()))
        return super().forward(logits, targets, weights, index=index, known=known, suspect=suspect)


def _spy(monkeypatch, estimator: str, unannotated: str = "ignore"):
    loss, made = Spy(), {}

    def make_estimator(self, **kw):
        made["estimator"] = ESTIMATORS.create(estimator)
        return made["estimator"]

    monkeypatch.setattr(Method, "make_loss", lambda self, **kw: loss)
    monkeypatch.setattr(Method, "make_estimator", make_estimator)
    return Method("spy", "weighted-bce", estimator, unannotated=unannotated), loss, made


def test_the_trainer_passes_the_suspect_zeros_and_verified_negatives_keep_full_weight(yeast, monkeypatch):
    x, observed = np.asarray(yeast.features), _partial(yeast.labels)
    method, loss, _ = _spy(monkeypatch, "pairwise-noisy-or")
    fit(x, observed, method, TrainConfig(**FAST))
    np.testing.assert_array_equal(loss.setup_rows, observed)
    for targets, weight, rows, known, suspect in loss.batches:
        labels = observed[rows.numpy()]
        np.testing.assert_array_equal(suspect.numpy(), labels == 0)
        np.testing.assert_array_equal(known.numpy(), labels != -1)
        np.testing.assert_array_equal(targets.numpy(), labels == 1)
        assert np.all(weight.numpy()[labels == 2] == 1.0) and np.all(weight.numpy()[labels == -1] == 0.0)
    weights = np.concatenate([b[1].numpy()[observed[b[2].numpy()] == 0] for b in loss.batches])
    assert weights.min() < 1.0  # the suspect zeros are weighed


def test_assume_negative_trains_unannotated_entries_as_weighted_suspect_zeros(yeast, monkeypatch):
    """``unannotated="negative"``: the estimator is fitted on the labels as observed (-1 left out of its
    statistics), then the -1 entries train as suspect zeros with its ω̄; verified negatives stay certain."""
    from mlml.labels import unannotated_as_negative

    x, observed = np.asarray(yeast.features), _partial(yeast.labels, seed=1)
    method, loss, made = _spy(monkeypatch, "pairwise-noisy-or", unannotated="negative")
    fit(x, observed, method, TrainConfig(**FAST))
    relabelled = unannotated_as_negative(observed)
    np.testing.assert_array_equal(loss.setup_rows, relabelled)
    reference = ESTIMATORS.create("pairwise-noisy-or").fit(observed)  # the statistics of the verified labels
    np.testing.assert_allclose(made["estimator"].conditional_.toarray(), reference.conditional_.toarray())
    _, expected = reference.transform(relabelled)
    for targets, weight, rows, known, suspect in loss.batches:
        r = rows.numpy()
        was_unannotated = observed[r] == -1
        assert known.numpy()[was_unannotated].all() and suspect.numpy()[was_unannotated].all()
        np.testing.assert_allclose(weight.numpy()[was_unannotated], expected[r][was_unannotated], rtol=1e-6)
        assert np.all(weight.numpy()[observed[r] == 2] == 1.0)
    assert METHODS.get("neg-noisy-or").definition()["unannotated"] == "negative"
    assert "unannotated" not in METHODS.get("cb-wce").definition()  # existing trial ids are unchanged
    with pytest.raises(MLMLError, match="'unannotated' parameter of method 'x'"):
        Method("x", "weighted-bce", unannotated="skip")


def test_csl_gets_the_prior_of_a_temporary_ignore_mode_model(yeast, monkeypatch):
    from mlml.losses.modules import CSL

    x, observed = np.asarray(yeast.features), _partial(yeast.labels, seed=2)
    seen = []
    original = CSL.set_class_prior
    monkeypatch.setattr(CSL, "set_class_prior", lambda self, prior: (seen.append(prior), original(self, prior))[1])
    config = TrainConfig(**FAST)
    fit(x, observed, "csl", config)
    expected = fit(x, observed, "bce", dataclasses.replace(config)).predict_proba(x).mean(axis=0)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], expected, rtol=1e-6)
    assert seen[0].shape == (observed.shape[1],) and np.all((seen[0] > 0) & (seen[0] < 1))


def test_partial_fold_keeps_complete_test_labels_and_the_grid_sees_the_same_partial_labels(yeast):
    from mlml.simulate import keep_known_labels

    split = (np.arange(0, 200), np.arange(200, 300))
    fold = make_fold(yeast, split, ratio=0.3, scheme="partial", seed=0, val_fraction=0.2, hiding=5)
    rows, observed, hidden = fold.training_fold()
    expected, expected_hidden = keep_known_labels(yeast.labels[:200], 0.3, random_state=5)
    np.testing.assert_array_equal(observed, expected)
    np.testing.assert_array_equal(hidden, expected_hidden)
    np.testing.assert_array_equal(fold.test_labels, yeast.labels[200:])  # complete, {0, 1}
    assert set(np.unique(fold.observed_val)) <= {-1, 1, 2}  # validation rows are partial too


def test_grid_config_reads_known_proportions():
    from mlml.experiments import load_config

    config = load_config(None, scheme="partial", ratios=[0.1, 0.9], methods=["bce", "csl", "neg-bce"])
    assert config.scheme == "partial"
    with pytest.raises(MLMLError, match="known proportions with scheme 'partial'; 0 leaves no label"):
        load_config(None, scheme="partial", ratios=[0.0, 0.5])


@pytest.mark.filterwarnings("ignore::mlml.evaluation.UndefinedMetricWarning")  # 300 yeast rows: a rare class
def test_a_small_partial_grid_runs_and_reports_map_vs_known_proportion(tmp_path, yeast):
    pytest.importorskip("matplotlib")
    from mlml.experiments import load_config, run_grid
    from mlml.reports import write_report

    labels = write_matrix_csv(tmp_path / "labels.csv", yeast.ids, yeast.label_names, yeast.labels)
    np.save(tmp_path / "features.npy", np.asarray(yeast.features))
    source = f"csv:{labels},{tmp_path / 'features.npy'}"
    config = load_config(None, datasets=[source], scheme="partial", ratios=[0.3, 0.7], folds=2,
                         methods=["bce", "csl", "neg-noisy-or"], train_overrides={"epochs": 2})
    records = run_grid(config, tmp_path / "run", jobs=1, progress=False)
    assert all(r["status"] == "done" for r in records), [r["error"] for r in records if r["status"] != "done"]
    assert {r["scheme"] for r in records} == {"partial"} and len(records) == 2 * 2 * 3
    by_method = {r["method"]: r for r in records if r["ratio"] == 0.3 and r["fold"] == 0}
    assert by_method["bce"]["diagnostics"] is None  # no suspect zero: nothing to detect
    assert by_method["neg-noisy-or"]["diagnostics"]["detection_auc"] > 0.5  # finds unannotated positives
    write_report(records, tmp_path / "run", thresholds="fixed")
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "the ratio column is the KNOWN proportion p" in report
    assert (tmp_path / "run" / "figures" / "map_vs_known.png").is_file()
    assert "known proportion of the training labels" in report


def test_cli_simulate_partial(tmp_path):
    labels = tmp_path / "labels.csv"
    rng = np.random.default_rng(0)
    write_matrix_csv(labels, [f"s{i}" for i in range(50)], ["a", "b", "c"], (rng.random((50, 3)) < 0.4).astype(int))
    out, hidden = tmp_path / "partial.csv", tmp_path / "hidden.csv"
    assert main(["simulate", "--labels", str(labels), "--scheme", "partial", "--ratio", "0.5", "--seed", "3",
                 "--out", str(out), "--hidden-out", str(hidden)]) == 0
    observed = read_labels_csv(out).values
    assert set(np.unique(observed)) == {-1, 1, 2}
    complete = read_labels_csv(labels).values
    np.testing.assert_array_equal(observed[observed == 1], 1)
    assert np.all(complete[observed == 2] == 0) and np.all(complete[observed == 1] == 1)
    np.testing.assert_array_equal(read_labels_csv(hidden).values, (complete == 1) & (observed == -1))


def test_cli_train_refuses_partial_without_a_known_proportion(tmp_path, capsys):
    assert main(["train", "yeast", "--out", str(tmp_path / "m"), "--scheme", "partial"]) != 0
    assert "--scheme partial keeps the proportion --ratio" in capsys.readouterr().err


def test_suggest_never_suggests_a_verified_negative():
    from mlml.suggest import suggest

    rng = np.random.default_rng(3)
    labels = (rng.random((80, 6)) < 0.35).astype(np.int8)
    labels[:, 0] = labels[:, 1]  # a strong co-occurrence: the zeros of class 0 beside class 1 look missing
    labels[rng.random(labels.shape) < 0.15] = 0
    observed = labels.copy()
    verified = (observed == 0) & (rng.random(observed.shape) < 0.5)
    observed[verified] = 2
    rows = suggest(observed, top_k=1000, method="labels")
    suggested = {(int(r["id"]), int(r["label"])) for r in rows}
    assert suggested == {tuple(map(int, e)) for e in np.argwhere(observed == 0)}  # every suspect zero, nothing else


def test_evaluate_scores_a_verified_negative_as_a_negative_and_masks_unannotated_entries():
    from mlml.evaluation import evaluate, tune_thresholds

    rng = np.random.default_rng(11)
    complete = (rng.random((60, 4)) < 0.4).astype(np.int8)
    scores = np.clip(complete * 0.4 + rng.random(complete.shape) * 0.6, 0, 1)
    partial = _partial(complete, seed=4)
    as_zero = np.where(partial == 2, 0, partial)
    ours, reference = evaluate(partial, scores), evaluate(as_zero, scores)  # 2 counts exactly as a 0 would
    assert ours == reference
    masked = evaluate(complete, scores, mask=partial != -1)
    assert masked == ours and ours["n_scored"] == int((partial != -1).sum())
    np.testing.assert_array_equal(tune_thresholds(partial, scores), tune_thresholds(as_zero, scores))


def test_validation_map_counts_verified_negatives_as_negatives():
    """Model selection on partial labels: a class whose only known non-positives are verified (2) is scored, dense
    and CSR alike."""
    import scipy.sparse as sp

    from mlml.training.metrics import defined_classes, observed_map

    observed = np.array([[1, 2], [2, 1], [-1, -1]], dtype=np.int8)
    scores = np.array([[0.9, 0.2], [0.1, 0.8], [0.5, 0.5]])
    assert defined_classes(observed).tolist() == [True, True]
    assert defined_classes(sp.csr_matrix(observed)).tolist() == [True, True]
    assert observed_map(scores, observed) == 1.0
