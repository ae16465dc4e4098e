"""``mlml.diagnose``: BBE against a port of the authors' code, the estimate on data with a known answer, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.cli import main
from mlml.diagnose import diagnose, naive_missing_share
from mlml.diagnose_bbe import _score_bins, bbe_mixture_proportion
from mlml.diagnose_floor import empty_row_floor
from mlml.diagnose_scores import out_of_fold_scores
from mlml.exceptions import MLMLError
from mlml.simulate import hide_positives


def _bbe_authors(pdata_probs: np.ndarray, udata_probs: np.ndarray, delta: float = 0.1, gamma: float = 0.01) -> float:
    """A literal port of ``BBE_estimator`` and ``DKW_bound`` (Garg et al., NeurIPS 2021; acmi-lab/PU_learning,
    ``estimator.py``): scores sorted high to low, a threshold at each strict drop of the unlabelled scores, the
    estimate ``i · n_p / (j · n_u)`` with the smallest upper confidence bound."""
    sorted_p = np.sort(pdata_probs)[::-1]
    sorted_u = np.sort(udata_probs)[::-1]
    num = len(sorted_u)
    estimates, upper = [], []
    i = j = 0
    while i < num:
        start = sorted_u[i]
        if not (i < num - 1 and start > sorted_u[i + 1]):
            i += 1
            continue
        while j < len(sorted_p) and sorted_p[j] >= start:
            j += 1
        if j > 1 and i > 1:
            t = i * 1.0 * len(sorted_p) / j / len(sorted_u)
            m, n = len(sorted_u), len(sorted_p)
            temp = np.sqrt(np.log(1 / delta) / 2 / n) + np.sqrt(np.log(1 / delta) / 2 / m)
            bound = temp * (1 + gamma) / (j / n)
            estimates.append(t)
            upper.append(t + bound)
        i += 1
    return float(estimates[int(np.argmin(upper))]) if upper else 0.0


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.6])
def test_bbe_matches_the_authors_code(alpha: float) -> None:
    rng = np.random.default_rng(int(alpha * 10))
    n_p, n_u = 1500, 4000
    positives = rng.normal(2.0, 1.0, n_p)
    n_hidden = int(alpha * n_u)
    unlabelled = np.r_[rng.normal(2.0, 1.0, n_hidden), rng.normal(-1.0, 1.0, n_u - n_hidden)]
    reference = _bbe_authors(positives, unlabelled)
    scores = np.r_[positives, unlabelled]
    is_pos = np.r_[np.ones(n_p, bool), np.zeros(n_u, bool)]
    # every distinct score its own bin: the thresholds of the port and more
    bins = np.unique(-scores, return_inverse=True)[1]
    exact = bbe_mixture_proportion(np.bincount(bins, weights=is_pos), np.bincount(bins, weights=~is_pos))
    assert exact == pytest.approx(reference, abs=0.01)  # the port counts i unlabelled rows where i + 1 score >= t
    assert exact == pytest.approx(alpha, abs=0.05)
    binned = _score_bins(scores)  # what diagnose uses: 256 quantile bins
    coarse = bbe_mixture_proportion(np.bincount(binned, weights=is_pos), np.bincount(binned, weights=~is_pos))
    assert coarse == pytest.approx(reference, abs=0.02)


def test_bbe_is_nan_without_positives_and_at_most_one() -> None:
    assert math.isnan(bbe_mixture_proportion(np.zeros(3), np.ones(3)))
    assert bbe_mixture_proportion(np.array([1.0, 0, 0]), np.array([50.0, 0, 0])) == 1.0


def test_labels_evidence_is_nonnegative_ridge_on_the_other_labels_out_of_fold() -> None:
    """The coordinate descent equals one non-negative least-squares fit per label, without its own column, on the
    ridge-augmented design (scipy's NNLS), fitted on the other folds."""
    from scipy.optimize import nnls

    rng = np.random.default_rng(0)
    positive = rng.random((300, 5)) < 0.3
    positive[:, 4] = positive[:, 0] | (rng.random(300) < 0.1)
    scores = out_of_fold_scores(positive, n_folds=3, ridge=1e-3, random_state=4)
    fold = np.random.default_rng(4).permutation(300) % 3  # the assignment out_of_fold_scores draws first
    Y = positive.astype(float)
    for j in range(5):
        X = np.delete(Y, j, axis=1)
        expected = np.zeros(300)
        for f in range(3):
            train, test = fold != f, fold == f
            mean, target_mean = X[train].mean(0), Y[train, j].mean()
            centred = X[train] - mean
            design = np.vstack([centred, np.sqrt(1e-3 * train.sum()) * np.eye(4)])
            coef, _ = nnls(design, np.r_[Y[train, j] - target_mean, np.zeros(4)])
            expected[test] = (X[test] - mean) @ coef + target_mean
        np.testing.assert_allclose(scores[:, j], expected, atol=1e-6)
    mutually_exclusive = np.zeros((300, 2), dtype=bool)
    mutually_exclusive[:150, 0] = mutually_exclusive[150:, 1] = True
    # no negative evidence: label 0's score is its training folds' rate, one value a fold, whatever label 1 says
    assert np.unique(np.round(out_of_fold_scores(mutually_exclusive, random_state=0)[:, 0], 12)).size <= 3


def _anchored(n: int, rng: np.random.Generator) -> np.ndarray:
    base = (rng.random((n, 4)) < 0.35).astype(np.int8)
    return np.hstack([base, base[:, :2], base[:, :1] & base[:, 1:2]])  # labels 4, 5 copy 0, 1; 6 = 0 and 1


@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_estimate_recovers_a_shared_missing_rate_where_labels_imply_each_other(ratio: float) -> None:
    rng = np.random.default_rng(3)
    complete = _anchored(4000, rng)
    observed, hidden = hide_positives(complete, ratio, scheme="uniform", random_state=1)
    truth = hidden.sum() / complete.sum()
    result = diagnose(observed, evidence="labels", estimator="bbe-quantile", n_bootstrap=50, random_state=0)
    assert abs(result.missing_share - truth) < 0.05
    assert result.low <= result.missing_share <= result.high
    assert result.low < truth + 0.05 and result.high > truth - 0.05


def test_estimate_from_features_and_reproducible() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    complete = (rng.random((n, 5)) < 0.3).astype(np.int8)
    features = complete * 4.0 + rng.normal(0, 1, (n, 5))  # each label well separated in its own feature
    observed, hidden = hide_positives(complete, 0.4, scheme="uniform", random_state=2)
    truth = hidden.sum() / complete.sum()
    first = diagnose(observed, features=features, n_bootstrap=30, random_state=7)
    again = diagnose(observed, features=sp.csr_matrix(features), n_bootstrap=30, random_state=7)
    assert first.evidence == "both+features+labels"
    assert abs(first.missing_share - truth) < 0.05
    assert first.to_dict() == diagnose(observed, features=features, n_bootstrap=30, random_state=7).to_dict()
    assert math.isfinite(again.missing_share)  # sparse features go through the SVD
    only_features = diagnose(observed, features=features, evidence="features", n_bootstrap=0)
    assert abs(only_features.missing_share - truth) < 0.05


def test_complete_labels_give_a_small_estimate_and_the_naive_sum_does_not() -> None:
    rng = np.random.default_rng(2)
    complete = _anchored(3000, rng)
    result = diagnose(complete, evidence="labels", n_bootstrap=0, every_row_positive=False)
    assert result.missing_share < 0.05
    assert result.low == result.high == result.missing_share
    assert naive_missing_share(complete) > result.missing_share


def test_labels_without_or_with_few_positives_are_named() -> None:
    rng = np.random.default_rng(0)
    labels = _anchored(600, rng)
    labels[:, 3] = 0
    labels[:, 2] = 0
    labels[:4, 2] = 1
    observed = labels.copy()
    observed[0, 0] = -1  # unannotated entries are accepted and left out of the counts
    names = [f"tag{j}" for j in range(labels.shape[1])]
    result = diagnose(observed, label_names=names, evidence="labels", n_bootstrap=10)
    assert result.no_positive_labels == ["tag3"]
    assert result.few_positive_labels == ["tag2"]
    assert math.isnan(result.per_label[3].missing_share)
    assert not result.per_label[2].used
    text = " ".join(result.advice())
    assert "no observed positive" in text and "fewer than 10" in text
    payload = result.to_dict()
    assert payload["per_label"][3]["missing_share"] is None
    json.dumps(payload)  # NaN never reaches the JSON


def test_no_label_with_enough_positives_gives_the_floor_of_empty_rows_or_nan() -> None:
    labels = np.zeros((50, 3), dtype=np.int8)
    labels[:3, 0] = 1
    result = diagnose(labels, n_bootstrap=5)  # 47 rows without a positive beside 3 positives: at least 47 / 50
    assert (result.missing_share, result.low, result.high) == (pytest.approx(0.94), pytest.approx(0.94), 1.0)
    assert "lower bound" in result.notes[0]
    unbounded = diagnose(labels, n_bootstrap=5, every_row_positive=False)
    assert math.isnan(unbounded.missing_share) and math.isnan(unbounded.floor)
    assert "cannot be estimated" in unbounded.notes[0]


def test_the_floor_counts_rows_that_must_have_lost_a_positive_among_their_zeros() -> None:
    observed = np.array([[1, 0, 0],
                         [0, 0, 0],     # empty: counted
                         [0, 2, 0],     # a verified negative beside suspect zeros: counted
                         [2, 2, 2],     # verified negatives only: nothing suspect, not counted
                         [0, -1, 0],    # its positive may be the unannotated entry: not counted
                         [0, 1, 1]], dtype=np.int8)
    assert empty_row_floor(observed) == pytest.approx(2 / (2 + 3))
    assert empty_row_floor(np.ones((4, 2), dtype=np.int8)) == 0.0
    assert empty_row_floor(sp.csr_matrix(observed)) == pytest.approx(0.4)


@pytest.mark.parametrize(("scheme", "ratio"), [("per-sample", 0.75), ("uniform", 0.5), ("uniform", 0.9)])
def test_the_floor_never_exceeds_the_truth_where_every_sample_has_a_label(yeast, scheme: str, ratio: float) -> None:
    complete = np.asarray(yeast.labels)
    assert (complete == 1).any(axis=1).all()
    for seed in range(3):
        observed, hidden = hide_positives(complete, ratio, scheme=scheme, random_state=seed)
        truth = np.asarray(hidden).sum() / complete.sum()
        assert 0 < empty_row_floor(observed) <= truth


def test_a_floor_above_the_interval_is_not_applied_but_said() -> None:
    rng = np.random.default_rng(2)
    complete = _anchored(3000, rng)  # independent labels: many samples truly carry none
    assert not (complete == 1).any(axis=1).all()
    result = diagnose(complete, evidence="labels", n_bootstrap=50)
    assert result.floor > result.high
    assert result.missing_share < 0.05
    assert any("carry no label at all" in note for note in result.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"evidence": "features"}, "needs features"),
        ({"evidence": "both"}, "needs features"),
        ({"quantile": 0}, "'quantile'"),
        ({"n_folds": 1}, "'n_folds'"),
        ({"n_bootstrap": -1}, "'n_bootstrap'"),
        ({"confidence": 1.0}, "'confidence'"),
        ({"features": np.zeros((3, 2))}, "features has 3 rows"),
        ({"label_names": ["a"]}, "label_names has 1"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    labels = (np.random.default_rng(0).random((40, 3)) < 0.4).astype(np.int8)
    with pytest.raises(MLMLError, match=message):
        diagnose(labels, **kwargs)


def _labels_csv(tmp_path, labels: np.ndarray) -> str:
    path = tmp_path / "labels.csv"
    lines = ["id," + ",".join(f"c{j}" for j in range(labels.shape[1]))]
    lines += [f"s{i}," + ",".join(str(v) for v in row) for i, row in enumerate(labels)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_diagnose_writes_json_and_prints_a_summary(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    complete = _anchored(800, rng)
    observed, _ = hide_positives(complete, 0.3, scheme="uniform", random_state=0)
    source = "csv:" + _labels_csv(tmp_path, observed)
    out = tmp_path / "diagnosis.json"
    assert main(["diagnose", source, "--out", str(out), "--bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    assert "estimated missing positives" in printed and "advice:" in printed
    payload = json.loads(out.read_text())
    share = payload["missing_share"]
    assert share["low"] <= share["estimate"] <= share["high"]
    assert [label["name"] for label in payload["per_label"]] == [f"c{j}" for j in range(7)]
    assert main(["data", "info", source]) == 0
    assert "missing positives  about" in capsys.readouterr().out


def test_cli_diagnose_rows_may_be_empty_drops_the_floor(tmp_path, capsys) -> None:
    labels = np.zeros((60, 3), dtype=np.int8)
    labels[:4, 0] = 1  # 56 samples without a positive
    source = "csv:" + _labels_csv(tmp_path, labels)
    floored, plain = tmp_path / "floored.json", tmp_path / "plain.json"
    assert main(["diagnose", source, "--bootstrap", "5", "--out", str(floored)]) == 0
    assert "lower bound" in capsys.readouterr().out
    assert main(["diagnose", source, "--bootstrap", "5", "--rows-may-be-empty", "--out", str(plain)]) == 0
    assert "missing positives  n/a" in capsys.readouterr().out
    assert json.loads(floored.read_text())["missing_share"]["floor"] == pytest.approx(56 / 60)
    assert json.loads(plain.read_text())["missing_share"] == {"estimate": None, "low": None, "high": None,
                                                            "confidence": 0.95, "floor": None}


def test_cli_diagnose_bad_bootstrap_is_exit_2(tmp_path, capsys) -> None:
    labels = (np.random.default_rng(0).random((40, 3)) < 0.4).astype(np.int8)
    assert main(["diagnose", "csv:" + _labels_csv(tmp_path, labels), "--bootstrap", "-3"]) == 2
    assert "n_bootstrap" in capsys.readouterr().err


def test_evaluate_notes_that_a_users_labels_may_be_incomplete(tmp_path, capsys) -> None:
    model = tmp_path / "model"
    assert main(["train", "yeast", "--out", str(model), "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "yeast", "--out", str(tmp_path / "m.json")]) == 0
    assert "note: Incomplete test labels" in capsys.readouterr().out
    note = json.loads((tmp_path / "m.json").read_text())["test_labels_note"]
    assert "lower bounds" in note and "Estimated from these labels alone" in note


def test_auto_keeps_the_tightest_bound_per_label() -> None:
    rng = np.random.default_rng(8)
    complete = _anchored(1500, rng)
    features = complete[:, :4] * 1.5 + rng.normal(0, 1, (1500, 4))
    observed, _ = hide_positives(complete, 0.3, scheme="per-sample", random_state=3)
    auto = diagnose(observed, features=features, n_bootstrap=0, random_state=4)
    single = [diagnose(observed, features=features, evidence=kind, n_bootstrap=0, random_state=4)
              for kind in ("both", "features", "labels")]
    for j, label in enumerate(auto.per_label):
        assert label.missing_share == min(d.per_label[j].missing_share for d in single)
    assert auto.missing_share <= min(d.missing_share for d in single)


def test_bootstrap_in_blocks_gives_an_interval_around_the_same_estimate(monkeypatch) -> None:
    import mlml.diagnose as module

    rng = np.random.default_rng(4)
    observed, _ = hide_positives(_anchored(1200, rng), 0.4, scheme="uniform", random_state=0)
    whole = diagnose(observed, evidence="labels", n_bootstrap=40, random_state=1)
    monkeypatch.setattr(module, "BOOTSTRAP_BLOCK_ENTRIES", 1200 * 7)  # blocks of 7 replicates
    blocked = diagnose(observed, evidence="labels", n_bootstrap=40, random_state=1)
    assert blocked.missing_share == whole.missing_share
    assert blocked.low <= blocked.missing_share <= blocked.high
    assert abs(blocked.high - blocked.low - (whole.high - whole.low)) < 0.1
