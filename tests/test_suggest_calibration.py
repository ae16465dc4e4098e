"""``mlml.suggest_calibration``: the missing-share shift of suggest's scores (sum over the zeros, ranking kept)."""

from __future__ import annotations

import numpy as np
import pytest

from mlml.cli import main
from mlml.exceptions import MLMLError
from mlml.simulate import hide_positives
from mlml.suggest import missing_scores, suggest
from mlml.suggest_calibration import solve_shift


@pytest.fixture(scope="module")
def hidden_data():
    """400 rows of 6 labels that follow 8 clusters of 5 features, half of the positives hidden per sample."""
    rng = np.random.default_rng(3)
    cluster = rng.integers(0, 8, 400)
    profile = rng.random((8, 6)) < 0.4
    features = rng.normal(size=(8, 5))[cluster] + 0.3 * rng.normal(size=(400, 5))
    complete = (profile[cluster] & (rng.random((400, 6)) < 0.9)).astype(np.int8)
    observed, hidden = hide_positives(complete, 0.5, random_state=0)
    return np.asarray(observed), np.asarray(hidden, dtype=bool), features


def test_solve_shift_meets_the_target_count():
    z = np.random.default_rng(0).normal(-3.0, 2.0, size=5000)
    for target in (0.5, 40.0, 2500.0, 4999.0):
        delta = solve_shift(z, target)
        assert np.isclose((1.0 / (1.0 + np.exp(-(z + delta)))).sum(), target, rtol=1e-6)
    assert np.isclose(2.0 * (1.0 / (1.0 + np.exp(-(z + solve_shift(z, 100.0, weight=2.0))))).sum(), 100.0)
    for bad in (0.0, -1.0, 5000.0):
        with pytest.raises(MLMLError, match="target count"):
            solve_shift(z, bad)


@pytest.mark.parametrize("method", ["auto", "knn", "labels"])
def test_zeros_sum_to_the_missing_count_and_the_ranking_is_kept(hidden_data, method):
    observed, _, features = hidden_data
    kwargs = dict(features=None if method == "labels" else features, method=method, random_state=0)
    before = missing_scores(observed, calibration="none", missing_share=0.3, **kwargs)  # auto re-hides 0.3 in both
    after = missing_scores(observed, missing_share=0.3, **kwargs)
    zero = observed == 0
    target = (observed == 1).sum() * 0.3 / 0.7
    assert np.isclose(after["score"][zero].sum(), target, rtol=1e-6)
    assert before["shift"] == 0.0 and after["shift"] != 0.0
    assert not np.isclose(before["score"][zero].sum(), target, rtol=0.01)  # the shift did something
    order = np.argsort(-before["score"][zero], kind="stable")
    assert np.all(np.diff(after["score"][zero][order]) <= 0)  # same order: no pair swapped
    for key in ("prior", "vote"):  # the evidence itself is untouched
        if before[key] is not None:
            np.testing.assert_array_equal(before[key], after[key])


def test_estimated_missing_share_moves_the_scores_towards_the_hidden_count(hidden_data):
    # positives hidden at random (uniform scheme), what diagnose's estimate assumes; the fixture's per-sample hiding
    # leaves every labelled row exactly one observed positive, where diagnose says 12 % for a true 50 %
    complete = hidden_data[0] | hidden_data[1]
    observed, hidden = (np.asarray(a) for a in hide_positives(complete, 0.5, scheme="uniform", random_state=0))
    features = hidden_data[2]
    zero = observed == 0
    before = missing_scores(observed, features=features, calibration="none", random_state=0)["score"][zero].sum()
    after = missing_scores(observed, features=features, random_state=0)["score"][zero].sum()
    assert abs(after - hidden.sum()) < abs(before - hidden.sum())
    again = missing_scores(observed, features=features, random_state=0)["score"][zero].sum()
    assert after == again  # reproducible


def test_suggest_keeps_the_same_suggestions_in_the_same_order(hidden_data):
    observed, _, features = hidden_data
    before = suggest(observed, features=features, top_k=30, calibration="none", missing_share=0.5)
    after = suggest(observed, features=features, top_k=30, missing_share=0.5)
    assert [(r["id"], r["label"]) for r in before] == [(r["id"], r["label"]) for r in after]
    assert [r["score"] for r in before] != [r["score"] for r in after]


def test_too_little_data_warns_and_leaves_the_scores():
    observed = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.int8)
    with pytest.warns(UserWarning, match="missing share could not be estimated"):
        out = missing_scores(observed, method="labels")
    assert out["shift"] == 0.0


@pytest.mark.parametrize("kwargs, pattern", [
    ({"calibration": "platt"}, "'calibration' parameter of suggest"),
    ({"missing_share": 1.0}, r"'missing_share' parameter of suggest must be in \[0, 1\)"),
    ({"missing_share": -0.2}, "missing_share"),
    ({"missing_share": "half"}, "missing_share"),
])
def test_bad_calibration_options_are_refused(hidden_data, kwargs, pattern):
    observed, _, _ = hidden_data
    with pytest.raises(MLMLError, match=pattern):
        suggest(observed, method="labels", **kwargs)


@pytest.mark.parametrize("argv", [["--calibration", "platt"], ["--missing-share", "1.5"]])
def test_the_cli_refuses_a_bad_calibration(tmp_path, capsys, argv):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,a,b\nx,1,0\ny,0,1\n")
    assert main(["suggest", f"csv:{labels}", "--method", "labels", *argv]) == 2
    err = capsys.readouterr().err
    assert argv[0] in err and len(err.strip().splitlines()) == 1


def test_the_cli_says_what_it_calibrated_to(tmp_path, capsys, hidden_data):
    observed, _, _ = hidden_data
    labels = tmp_path / "labels.csv"
    labels.write_text("id,a,b,c,d,e,f\n" + "".join(f"r{i}," + ",".join(map(str, row)) + "\n"
                                                 for i, row in enumerate(observed)))
    out = tmp_path / "suggestions.csv"
    assert main(["suggest", f"csv:{labels}", "--method", "labels", "--missing-share", "0.25", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    target = (observed == 1).sum() * 0.25 / 0.75
    assert f"scores calibrated to sum to {target:,.0f} missing positives" in err and "0.250 given" in err
    assert out.exists()


def test_large_data_paths_sample_rows_and_stay_close(hidden_data, monkeypatch):
    import mlml.suggest_calibration as calibration

    observed, _, features = hidden_data
    monkeypatch.setattr(calibration, "SHIFT_ENTRIES", 6 * 200)  # the shift solved on 200 of the 400 rows
    monkeypatch.setattr(calibration, "DIAGNOSE_ROWS", 300)  # diagnose on 300 rows
    zero = observed == 0
    target = (observed == 1).sum() * 0.3 / 0.7
    sampled = missing_scores(observed, method="labels", missing_share=0.3)["score"][zero].sum()
    assert abs(sampled - target) < 0.15 * target and not np.isclose(sampled, target, rtol=1e-6)
    share = calibration.estimate_missing_share(observed, features, random_state=0)
    assert 0.0 <= share < 1.0
