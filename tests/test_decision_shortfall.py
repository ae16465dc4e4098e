"""``mlml train`` warns when its decision predicts fewer labels per validation row than half the positives
observed per training row (mlml.service.decision_shortfall): the collapse of 0.5 with most positives hidden,
named with the command that refits another policy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mlml.cli import main
from mlml.service import decision_shortfall


def _result(proba, counts=(2, 1, 0), n_train=2, threshold=0.5):
    return SimpleNamespace(val_proba=np.asarray(proba, dtype=np.float32), label_counts=list(counts), n_train=n_train,
                           decision_thresholds_for=lambda scores: threshold)


def test_shortfall_compares_labels_predicted_per_validation_row_with_positives_observed_per_training_row():
    proba = [[0.9, 0.2, 0.6], [0.1, 0.4, 0.3]]
    assert decision_shortfall(_result(proba)) == (1.0, 1.5)
    assert decision_shortfall(_result(proba, threshold=0.05)) == (3.0, 1.5)
    assert decision_shortfall(_result(np.empty((0, 3)))) is None
    assert decision_shortfall(_result(proba, n_train=0)) is None
    assert decision_shortfall(SimpleNamespace(val_proba=np.ones((2, 3)), label_counts=None, n_train=3)) is None


@pytest.fixture()
def rare_labels(tmp_path):
    """300 samples, 8 rare labels (about 6 % positive each) that noise features cannot predict."""
    rng = np.random.default_rng(0)
    labels = (rng.random((300, 8)) < 0.06).astype(int)
    rows = ["id," + ",".join(f"l{j}" for j in range(8))]
    rows += [f"s{i}," + ",".join(map(str, labels[i])) for i in range(300)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    np.save(tmp_path / "x.npy", rng.normal(size=(300, 5)).astype(np.float32))
    return tmp_path


def test_train_warns_when_the_decision_collapses_and_names_decide(rare_labels, capsys):
    out = rare_labels / "m"
    source = f"csv:{rare_labels / 'labels.csv'},{rare_labels / 'x.npy'}"
    assert main(["train", source, "--method", "bce", "--ratio", "0.5", "--epochs", "30", "--fixed-epochs",
                 "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "mlml train: warning: the 'fixed' decision predicts 0.0" in err
    assert "labels per validation row, fewer than half the" in err and "positives observed per training row" in err
    assert f"mlml decide {out} --thresholds pu" in err
    assert main(["decide", str(out), "--thresholds", "pu"]) == 0  # the advice runs as written


def test_train_does_not_warn_when_the_decision_predicts_enough(tmp_path, capsys):
    assert main(["train", "yeast", "--method", "bce", "--epochs", "3", "--quiet", "--out", str(tmp_path / "m")]) == 0
    assert "labels per validation row" not in capsys.readouterr().err
