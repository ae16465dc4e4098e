"""``mlml diagnose``'s estimators: the default recovers a share hidden in a real data set within its interval, the
first version stays selectable, the interval's rule, the JSON schema, and ``data info`` showing the same numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_diagnose import _labels_csv

from mlml.cli import main
from mlml.data import describe, load
from mlml.diagnose import DEFAULT_ESTIMATOR, ESTIMATORS, diagnose
from mlml.diagnose_bbe import _bootstrap_interval
from mlml.diagnose_text import format_diagnosis
from mlml.exceptions import MLMLError
from mlml.simulate import hide_positives


@pytest.fixture(scope="module")
def yeast():
    dataset = load("yeast")  # built in (the river wheel): 2,417 x 14, 103 features
    return dataset, np.asarray(dataset.labels, dtype=np.int8)


@pytest.mark.parametrize(("scheme", "ratio"), [("uniform", 0.5), ("per-sample", 0.25)])
def test_default_recovers_a_share_hidden_in_yeast_within_its_interval(yeast, scheme: str, ratio: float) -> None:
    dataset, complete = yeast
    observed, hidden = hide_positives(complete, ratio, scheme=scheme, random_state=0)
    truth = np.asarray(hidden).sum() / (complete == 1).sum()
    result = diagnose(observed, features=dataset.features, n_bootstrap=50, random_state=0)
    assert result.estimator == DEFAULT_ESTIMATOR == "bbe-tightest"
    assert result.low <= truth <= result.high
    assert abs(result.missing_share - truth) < 0.05
    assert result.high - result.low < 0.4  # an interval that says something


def test_the_first_estimator_stays_selectable_and_differs_only_in_its_settings(yeast) -> None:
    dataset, complete = yeast
    observed, _ = hide_positives(complete, 0.25, scheme="uniform", random_state=1)
    old = diagnose(observed, features=dataset.features, estimator="bbe-quantile", n_bootstrap=20, random_state=2)
    assert old.estimator == "bbe-quantile" and "delta 0.1" in old.method and "0.1 quantile" in old.method
    # the default with the first version's settings gives its estimate (same folds, same bins)
    same = diagnose(observed, features=dataset.features, delta=0.1, quantile=0.1, n_bootstrap=20, random_state=2)
    assert same.missing_share == old.missing_share
    new = diagnose(observed, features=dataset.features, n_bootstrap=20, random_state=2)
    assert new.missing_share <= old.missing_share  # a smaller BBE confidence term and a lower quantile
    assert ESTIMATORS["bbe-tightest"][2] == "union" and ESTIMATORS["bbe-quantile"][2] == "percentile"


def test_union_interval_is_the_percentile_one_and_its_reflection() -> None:
    replicates = np.array([0.1, 0.2, 0.3, 0.4, 0.5, np.nan])
    lo, hi = np.quantile(replicates[:5], [0.025, 0.975])
    assert _bootstrap_interval(0.45, replicates, 0.95, "percentile") == pytest.approx((lo, hi))
    union = _bootstrap_interval(0.45, replicates, 0.95, "union")
    assert union == pytest.approx((min(lo, 0.9 - hi), max(hi, 0.9 - lo)))
    assert _bootstrap_interval(0.95, np.array([0.5, 0.6]), 0.95, "union")[1] == 1.0  # clipped to [0, 1]
    assert _bootstrap_interval(0.3, np.array([np.nan]), 0.95, "union") == (0.3, 0.3)
    low, high = _bootstrap_interval(0.05, np.array([0.2, 0.3]), 0.95, "percentile")
    assert low == 0.05 and high > 0.2  # the interval always holds its estimate


@pytest.mark.parametrize(("kwargs", "message"), [({"estimator": "tice"}, "'estimator'"), ({"delta": 1.0}, "'delta'"),
                                                 ({"delta": 0}, "'delta'")])
def test_bad_estimator_settings_are_named(kwargs: dict, message: str) -> None:
    labels = (np.random.default_rng(0).random((40, 3)) < 0.4).astype(np.int8)
    with pytest.raises(MLMLError, match=message):
        diagnose(labels, **kwargs)


def test_json_schema_and_data_info_show_the_same_numbers(yeast, tmp_path, capsys) -> None:
    _, complete = yeast
    observed, _ = hide_positives(complete[:800], 0.4, scheme="uniform", random_state=0)
    source = "csv:" + _labels_csv(tmp_path, observed)
    out = tmp_path / "d.json"
    assert main(["diagnose", source, "--features", "none", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert set(payload) == {"missing_share", "estimated_missing_positives", "per_label_median", "per_label",
                            "labels_without_positives",
                            "labels_with_few_positives", "evidence", "estimator", "method", "n_samples", "n_labels",
                            "observed_positives", "empty_samples", "min_positives", "advice", "notes"}
    assert set(payload["missing_share"]) == {"estimate", "low", "high", "confidence", "floor"}
    assert payload["estimator"] == "bbe-tightest"
    assert len(payload["per_label"]) == 14
    assert set(payload["per_label"][0]) == {"name", "observed_positives", "suspect_zeros", "missing_share", "low",
                                            "high", "used"}
    info = describe(load(source))["missing_share"]
    assert info == payload["missing_share"]  # data info: the same estimate and interval
    capsys.readouterr()
    assert main(["data", "info", source]) == 0
    assert f"about {payload['missing_share']['estimate']:.0%} estimated from the labels" in capsys.readouterr().out
    old = tmp_path / "old.json"
    assert main(["diagnose", source, "--features", "none", "--estimator", "bbe-quantile", "--out", str(old)]) == 0
    assert json.loads(old.read_text())["estimator"] == "bbe-quantile"
    assert math.isfinite(json.loads(old.read_text())["missing_share"]["estimate"])


def test_labels_missed_at_different_rates_are_flagged_when_the_overall_figure_is_small() -> None:
    """One label complete and separated by its feature, the others missing 60 % of their positives: the shared-rate
    figure follows the clear label (near 0), the labels' median does not, and the advice does not recommend BCE."""
    rng = np.random.default_rng(0)
    complete = (rng.random((3000, 6)) < 0.3).astype(np.int8)
    features = np.c_[complete[:, :1] * 6.0, np.zeros((3000, 1))] + rng.normal(0, 1, (3000, 2))
    observed = complete.copy()
    hidden, _ = hide_positives(complete[:, 1:], 0.6, scheme="uniform", random_state=0)
    observed[:, 1:] = hidden
    result = diagnose(observed, features=features, n_bootstrap=0, random_state=0)
    assert result.missing_share < 0.05
    assert result.per_label_median > 0.4
    advice = " ".join(result.advice())
    assert "missed at different rates" in advice and "loses little" not in advice
    assert "the labels' own estimates: median" in format_diagnosis(result)


@pytest.mark.parametrize("name", ["scene", "emotions"])
def test_the_floor_of_emptied_rows_meets_the_truth_where_hiding_empties_rows(mulan_dir, name: str) -> None:
    """Per-sample hiding at r = 0.75 empties the rows of one or two labels: on scene no label keeps 10 positives
    (no estimate before the floor), on emotions the estimate from the surviving positives falls short."""
    dataset = load(f"mulan:{mulan_dir / name}")
    complete = np.asarray(dataset.labels, dtype=np.int8)
    observed, hidden = hide_positives(complete, 0.75, scheme="per-sample", random_state=0)
    truth = np.asarray(hidden).sum() / complete.sum()
    found = diagnose(observed, features=dataset.features, n_bootstrap=50, random_state=0)
    unbounded = diagnose(observed, features=dataset.features, n_bootstrap=50, random_state=0,
                         every_row_positive=False)
    assert found.floor <= truth
    assert found.low <= truth <= found.high
    assert abs(found.missing_share - truth) < abs(unbounded.missing_share - truth) or math.isnan(
        unbounded.missing_share)
    assert abs(found.missing_share - truth) <= 0.1
