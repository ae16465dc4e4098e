"""``mlml.suggest``: ranking of likely missing positives on real data, and its output formats."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from mlml.exceptions import MLMLError
from mlml.simulate import hide_positives
from mlml.suggest import COLUMNS, fit_scorer, format_table, missing_scores, suggest, write_suggestions_csv


@pytest.fixture(scope="module")
def coco_subsample(coco_seed_split):
    """5,000 training rows of COCO split 1 at r = 0.5 (the seed's own hidden positives)."""
    split = coco_seed_split
    rows = np.random.default_rng(0).choice(len(split.observed), 5000, replace=False)
    ids = split.ids[split.train_index][rows]
    return split.observed[rows], split.hidden[rows], ids, split.label_names


def test_labels_only_ranking_beats_class_frequency(coco_subsample):
    observed, hidden, _, _ = coco_subsample
    zero = observed == 0
    score = missing_scores(observed, method="labels")["score"]
    auc = roc_auc_score(hidden[zero], score[zero])
    frequency = np.broadcast_to(observed.mean(axis=0), observed.shape)
    baseline = roc_auc_score(hidden[zero], frequency[zero])
    assert auc > baseline + 0.05 and auc > 0.85


def test_suggestions_are_the_best_scored_zeros_with_evidence(coco_subsample):
    observed, hidden, ids, names = coco_subsample
    rows = suggest(observed, label_names=names, ids=ids, top_k=200, method="labels")
    assert [r["rank"] for r in rows] == list(range(1, 201))
    assert all(list(r) == list(COLUMNS) for r in rows)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    position = {s: i for i, s in enumerate(ids)}
    entries = [(position[r["id"]], names.index(r["label"])) for r in rows]
    assert all(observed[i, c] == 0 for i, c in entries)
    full = missing_scores(observed, method="labels")["score"]
    assert min(scores) >= np.sort(full[observed == 0])[-200] - 1e-12
    precision = np.mean([hidden[i, c] for i, c in entries])
    assert precision > 2 * hidden[observed == 0].mean()  # far above picking zeros at random
    assert all(r["co_occurring"] for r in rows)  # every suggestion names the labels that support it
    assert rows[0]["neighbour_vote"] is None and rows[0]["neighbours"] == ""


def test_features_and_model_probabilities_are_used():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0], axis=1).astype(np.int8)
    observed = y.copy()
    observed[:10, 0] = 0
    rows = suggest(observed, features=x, top_k=5, method="knn")
    assert all(r["neighbour_vote"] is not None for r in rows)
    carriers = rows[0]["neighbours"].split("; ")
    assert all(carriers) and all(observed[int(j), int(rows[0]["label"])] == 1 for j in carriers)
    proba = np.full(y.shape, 0.05)
    proba[50, 1] = 0.99
    observed[50, 1] = 0
    with_model = missing_scores(observed, probabilities=proba, method="labels")["score"]
    without = missing_scores(observed, method="labels")["score"]
    assert with_model[50, 1] > without[50, 1]
    assert suggest(observed, probabilities=proba, top_k=1)[0]["model_probability"] is not None


def test_output_files_and_table(tmp_path):
    observed = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1], [-1, 1, 0]], dtype=np.int8)
    rows = suggest(observed, label_names=["a", "b", "c"], ids=list("vwxyz"), top_k=50)
    assert len(rows) == int((observed == 0).sum())  # capped at the number of observed zeros
    path = write_suggestions_csv(rows, tmp_path / "s.csv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == list(COLUMNS) and len(read) == len(rows)
    assert read[0]["id"] == rows[0]["id"] and float(read[0]["score"]) == pytest.approx(rows[0]["score"], 1e-5)
    assert read[0]["neighbour_vote"] == ""
    table = format_table(rows, 2)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["rank", "id", "label", "score"] and len(lines) == 2 + 2 + 1
    assert "more in the CSV" in lines[-1]
    assert "No suggestions" in format_table([], 5)


def test_errors_name_the_parameter():
    observed = np.array([[1, 0], [0, 1]], dtype=np.int8)
    with pytest.raises(MLMLError, match="label_names"):
        suggest(observed, label_names=["a"])
    with pytest.raises(MLMLError, match="features"):
        suggest(observed, method="knn")
    with pytest.raises(MLMLError, match="method"):
        suggest(observed, method="magic")
    with pytest.raises(MLMLError, match="top_k"):
        suggest(observed, top_k=0)
    for prior in ("knn", "ignore-missing", "pu-adaptive"):  # features, the hidden mask, a model: not labels only
        with pytest.raises(MLMLError, match="'prior' parameter of suggest must name a labels-only"):
            suggest(observed, prior=prior)


def _structured(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with clusters, each carrying two or three labels: labels co-occur and follow the features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, 6)) * 3
    cluster = rng.integers(0, 12, n)
    x = centres[cluster] + rng.normal(size=(n, 6))
    profile = np.full((12, 8), 0.02)
    for k in range(12):
        profile[k, rng.choice(8, rng.integers(2, 4), replace=False)] = 0.8
    y = (rng.random((n, 8)) < profile[cluster]).astype(np.int8)
    return x, y


def test_auto_weighs_the_sources_on_rehidden_positives_and_beats_chance():
    x, y = _structured()
    observed, hidden = hide_positives(y, 0.5, scheme="uniform", random_state=1)
    observed, hidden = np.asarray(observed), np.asarray(hidden).astype(bool)
    result = missing_scores(observed, features=x, method="auto", random_state=0)
    combination = result["combination"]
    assert combination is not None and combination.sources == ("prior", "vote", "rate")
    assert combination.rehidden > 10 and any(w != 0 for w in combination.weights)
    zero = observed == 0
    score = result["score"]
    assert np.all((score[zero] >= 0) & (score[zero] <= 1)) and np.all(score[~zero] == -np.inf)
    assert roc_auc_score(hidden[zero], score[zero]) > 0.8
    again = missing_scores(observed, features=x, method="auto", random_state=0)["score"]
    np.testing.assert_array_equal(score, again)  # same seed, same numbers


def test_filters_labels_cap_and_floor():
    x, y = _structured(seed=2)
    observed = np.asarray(hide_positives(y, 0.5, random_state=0)[0])
    names = [f"L{c}" for c in range(8)]
    full = suggest(observed, features=x, label_names=names, top_k=400, method="knn")
    capped = suggest(observed, features=x, label_names=names, top_k=30, method="knn", per_label_cap=4)
    counts = {n: sum(r["label"] == n for r in capped) for n in names}
    assert max(counts.values()) <= 4 and len(capped) == min(30, sum(min(4, sum(r["label"] == n for r in full))
                                                                    for n in names))
    expected = []  # the capped list is the full ranking with each label's fifth and later suggestions struck out
    seen: dict[str, int] = {}
    for r in full:
        seen[r["label"]] = seen.get(r["label"], 0) + 1
        if seen[r["label"]] <= 4:
            expected.append((r["id"], r["label"]))
    assert [(r["id"], r["label"]) for r in capped] == expected[:30]
    only = suggest(observed, features=x, label_names=names, top_k=50, method="knn", labels=["L2", "L5"])
    assert {r["label"] for r in only} <= {"L2", "L5"} and only
    assert [r["id"] for r in only] == [r["id"] for r in full if r["label"] in ("L2", "L5")][:50]
    floor = suggest(observed, features=x, label_names=names, top_k=400, method="knn", min_score=0.5)
    assert all(r["score"] >= 0.5 for r in floor)
    assert len(floor) == sum(r["score"] >= 0.5 for r in full)
    with pytest.raises(MLMLError, match="'labels' parameter of suggest names 'nope'"):
        suggest(observed, label_names=names, labels=["nope"])
    with pytest.raises(MLMLError, match="per_label_cap"):
        suggest(observed, per_label_cap=0)
    with pytest.raises(MLMLError, match="min_score"):
        suggest(observed, min_score=1.5)


def test_blocks_give_the_same_ranking_as_one_block(monkeypatch):
    import mlml.suggest as module

    x, y = _structured(seed=3)
    observed = np.asarray(hide_positives(y, 0.5, random_state=0)[0])
    one = suggest(observed, features=x, top_k=60, per_label_cap=9)
    monkeypatch.setattr(module, "BLOCK_ENTRIES", 40)  # 5 rows a block
    many = suggest(observed, features=x, top_k=60, per_label_cap=9)
    assert [(r["id"], r["label"], r["score"]) for r in one] == [(r["id"], r["label"], r["score"]) for r in many]
    sparse = suggest(sp.csr_matrix(observed), features=x, top_k=60, per_label_cap=9)
    assert [(r["id"], r["label"]) for r in sparse] == [(r["id"], r["label"]) for r in one]


def test_out_of_fold_probabilities_never_see_their_row():
    from mlml.evidence import out_of_fold_probabilities

    x, y = _structured(seed=4)
    proba = out_of_fold_probabilities(y, x, n_folds=3, random_state=0)
    assert proba.shape == y.shape and np.all((proba >= 0) & (proba <= 1))
    changed = y.copy()
    changed[0] = 1 - changed[0]  # row 0's own labels do not enter its probabilities
    np.testing.assert_allclose(out_of_fold_probabilities(changed, x, n_folds=3, random_state=0)[0], proba[0])
    assert roc_auc_score(y.ravel(), proba.ravel()) > 0.75  # a linear model of clustered data; chance is 0.5


def test_model_evidence_for_the_command_line(tmp_path):
    from types import SimpleNamespace

    from mlml.suggest_model import model_probabilities

    x, y = _structured(seed=5)
    dataset = SimpleNamespace(labels=y, features=x.astype(np.float32), image_paths=None,
                              label_names=[f"L{c}" for c in range(8)])
    proba, line = model_probabilities(dataset, oof_folds=None)
    assert proba.shape == y.shape and "out-of-fold" in line
    assert model_probabilities(dataset, oof_folds=0) == (None, "model evidence: none")
    with pytest.raises(MLMLError, match="oof_folds"):
        model_probabilities(dataset, oof_folds=1)
    with pytest.raises(MLMLError, match="model.json not found"):
        model_probabilities(dataset, model=tmp_path)


def test_command_line_model_evidence_and_filters(tmp_path, capsys):
    from mlml.cli import main

    x, y = _structured(seed=6)
    observed = np.asarray(hide_positives(y, 0.5, random_state=0)[0])
    lines = ["id," + ",".join(f"L{c}" for c in range(8))]
    lines += [f"r{i}," + ",".join(str(v) for v in row) for i, row in enumerate(observed)]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    np.save(tmp_path / "X.npy", x.astype(np.float32))
    source, out = f"csv:{tmp_path / 'labels.csv'},{tmp_path / 'X.npy'}", tmp_path / "s.csv"
    argv = ["suggest", source, "--labels", "L1,L2,L3", "--per-label-cap", "3", "--min-score", "0.01", "--top-k",
            "8", "--oof-folds", "3", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "out-of-fold probabilities" in printed.splitlines()[0]
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and all(r["model_probability"] and r["neighbour_vote"] for r in rows)
    assert {r["label"] for r in rows} <= {"L1", "L2", "L3"}
    assert max(sum(r["label"] == n for r in rows) for n in ("L1", "L2", "L3")) <= 3
    assert all(float(r["score"]) >= 0.01 for r in rows)
    assert main(["suggest", source, "--labels", "L1,nope", "--oof-folds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err
    assert main(["suggest", source, "--model", str(tmp_path / "no-model")]) == 2
    assert "model.json" in capsys.readouterr().err


def test_auto_rehides_the_data_s_own_missing_share():
    from mlml.evidence import _keep_one_probability

    x, y = _structured(seed=3)
    observed, _ = hide_positives(y, 0.3, scheme="uniform", random_state=1)
    observed = np.asarray(observed)
    per_row = (observed == 1).sum(axis=1)
    positives = int(per_row.sum())

    def expected(share):  # each row's last positive kept, the others hidden with p: share of all, p <= 0.75
        p = _keep_one_probability(per_row, share)
        n = per_row[per_row > 0]
        assert p <= 0.75 and (np.isclose((n * p - p**n).sum(), share * positives) or p == 0.75)
        return float((n * p - p**n).sum())

    for share in (0.1, 0.3, 0.6):
        combination = missing_scores(observed, features=x, missing_share=share, random_state=0)["combination"]
        assert abs(combination.rehidden - expected(share)) < 4 * np.sqrt(positives * share * (1 - share))
    fixed = missing_scores(observed, features=x, rehide_share=0.5, calibration="none", random_state=0)["combination"]
    assert abs(fixed.rehidden - expected(0.5)) < 4 * np.sqrt(positives * 0.25)


def test_rehiding_keeps_each_row_s_last_positive_where_enough_are_left():
    from mlml.evidence import MIN_REHIDDEN, _rehide
    from mlml.simulate import hide_positives

    rng = np.random.default_rng(0)
    several = (rng.random((300, 6)) < 0.5).astype(np.int8)
    several[several.sum(axis=1) == 0, 0] = 1
    rehidden, mask, kept = _rehide(several, 0.7, "uniform", np.random.default_rng(1))
    assert kept and mask.sum() >= 2 * MIN_REHIDDEN
    assert ((np.asarray(rehidden) == 1).sum(axis=1) >= 1).all()  # no row emptied
    assert np.array_equal(np.asarray(rehidden) | np.asarray(mask), several)  # only positives hidden
    one = np.zeros((300, 6), dtype=np.int8)
    one[np.arange(300), rng.integers(0, 6, 300)] = 1  # one label a row: nothing to re-hide without emptying rows
    rehidden, mask, kept = _rehide(one, 0.5, "uniform", np.random.default_rng(1))
    plain = hide_positives(one, 0.5, scheme="uniform", random_state=np.random.default_rng(1))
    assert not kept and mask.sum() > 0 and np.array_equal(mask, plain[1]) and np.array_equal(rehidden, plain[0])


def test_where_the_rehiding_empties_rows_the_vote_is_weighed_on_the_observed_labels(caplog):
    from sklearn.linear_model import LogisticRegression

    from mlml.weights.neighbors import logit

    x, y = _structured(seed=4)
    one = np.zeros_like(y)
    rows = np.flatnonzero(y.sum(axis=1) > 0)
    one[rows, y[rows].argmax(axis=1)] = 1  # one observed label a row: the re-hiding must empty rows
    with caplog.at_level("INFO", logger="mlml.suggest"):
        scorer = fit_scorer(one, features=x, missing_share=0.3, random_state=0)
    combination = scorer.combination
    assert combination.sources == ("vote",)  # no model given here; the prior and the class rate left out
    assert combination.on_observed and combination.rehidden == int(one.sum())
    assert "weighed on the observed positives" in caplog.text and "observed positives)" in combination.describe()
    vote = scorer.evidence.block(np.arange(one.shape[0]))["vote"]  # observed positives against observed zeros
    direct = LogisticRegression(C=1.0, max_iter=1000).fit(logit(vote).reshape(-1, 1), one.ravel() == 1)
    assert np.isclose(combination.weights[0], direct.coef_[0, 0]) and np.isclose(combination.intercept,
                                                                                 direct.intercept_[0])
    labels_only = missing_scores(one, missing_share=0.3, random_state=0)["combination"]
    assert labels_only.sources[0] == "prior" and not labels_only.on_observed  # nothing else ranks the rows
    several = missing_scores(y, features=x, missing_share=0.3, random_state=0)["combination"]
    assert "prior" in several.sources and not several.on_observed


def test_missing_rehide_share_bounds_and_fallback():
    from mlml.suggest import REHIDE_SHARES, missing_rehide_share

    observed = np.zeros((1000, 4), dtype=np.int8)
    observed[:, 0] = 1  # 1,000 observed positives
    assert missing_rehide_share(observed, 0.3) == 0.3
    assert missing_rehide_share(observed, 0.001) == REHIDE_SHARES[0]
    assert missing_rehide_share(observed, 0.99) == REHIDE_SHARES[1]
    assert missing_rehide_share(observed, float("nan")) == 0.5
    assert missing_rehide_share(observed, None) == 0.5
    few = observed[:50]  # 50 positives: at least 2 x MIN_REHIDDEN = 20 of them are re-hidden
    assert missing_rehide_share(few, 0.05) == 0.4
    with pytest.raises(MLMLError, match="rehide_share"):
        suggest(observed, rehide_share=1.5)


def test_a_bad_missing_share_is_refused_before_any_work():
    observed = np.array([[1, 0], [0, 1]], dtype=np.int8)
    for calibration in ("none", "missing-share"):
        with pytest.raises(MLMLError, match="'missing_share' parameter of suggest"):
            suggest(observed, missing_share=1.5, calibration=calibration)
        with pytest.raises(MLMLError, match="'missing_share' parameter of suggest must be in \\[0, 1\\)"):
            suggest(observed, missing_share=1.0, calibration=calibration)
