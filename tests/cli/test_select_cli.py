"""``select`` from the command line: the default method decides with it, says what it chose, keeps the diagnosed
missing share in ``model.json`` and refits it later without retraining."""

import json

import pytest

from mlml.cli import main
from mlml.evaluation.policies import BASE_POLICIES
from mlml.training.saved import load_model


def test_the_default_train_selects_a_policy_and_decide_refits_it(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "yeast", "--ratio", "0.5", "--epochs", "3", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    meta = json.loads((out / "model.json").read_text())
    chosen = meta["decision"]["policy"]
    assert chosen in BASE_POLICIES and "select" in meta["decision"]["info"]
    assert f"decisions: select: {chosen}" in printed
    share = meta["missing_share"]
    assert 0.0 < share < 1.0 and meta["decision"]["info"]["select"]["missing_share"] == share
    model = load_model(out)
    assert model.missing_share == share

    assert main(["decide", str(out), "--thresholds", "fixed"]) == 0  # another policy, then select again
    assert main(["decide", str(out), "--thresholds", "select"]) == 0
    assert f"select: {chosen}" in capsys.readouterr().out
    again = json.loads((out / "model.json").read_text())["decision"]  # refitted from validation.npz (stored
    assert again["policy"] == chosen  # float32): the same choice, parameters equal to float precision
    assert again["info"]["select"]["criterion"] == pytest.approx(meta["decision"]["info"]["select"]["criterion"])


def test_a_model_trained_with_another_policy_keeps_the_share_for_select_later(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "yeast", "--ratio", "0.5", "--epochs", "2", "--quiet", "--thresholds", "calibrated",
                 "--out", str(out)]) == 0
    assert load_model(out).missing_share is not None
    assert main(["evaluate", str(out), "yeast", "--thresholds", "select"]) == 0


def test_own_without_validation_rows_decides_at_one_half_and_says_so(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "yeast", "--recipe", "seed", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "its own policy 'select', which needs validation rows; the 'seed' recipe keeps none: 0.5 (fixed)" in printed
    assert json.loads((out / "model.json").read_text())["decision"] is None
