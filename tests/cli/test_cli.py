import csv

import numpy as np
import pytest

from mlml.cli import main
from mlml.labels import LabelTable, read_labels_csv, write_labels_csv


@pytest.fixture
def coco_sample(tmp_path, coco_dir):
    table = read_labels_csv(coco_dir / "labels.csv.gz")
    keep = slice(0, 1500)
    return write_labels_csv(tmp_path / "labels.csv", LabelTable(table.ids[keep], table.names, table.values[keep]))


def test_simulate_then_weights_round_trip(tmp_path, coco_sample, capsys):
    observed_path, hidden_path = tmp_path / "obs.csv", tmp_path / "hidden.csv"
    assert main(["simulate", "--labels", str(coco_sample), "--ratio", "0.5", "--seed", "3",
                 "--out", str(observed_path), "--hidden-out", str(hidden_path)]) == 0
    complete, observed, hidden = (read_labels_csv(p) for p in (coco_sample, observed_path, hidden_path))
    assert observed.names == complete.names and list(observed.ids) == list(complete.ids)
    n_pos = (complete.values == 1).sum(axis=1)
    np.testing.assert_array_equal(hidden.values.sum(axis=1), np.round(0.5 * n_pos))
    np.testing.assert_array_equal(observed.values, np.where(hidden.values == 1, 0, complete.values))

    weights_path = tmp_path / "w.csv"
    assert main(["weights", "--labels", str(observed_path), "--estimator", "pairwise-noisy-or",
                 "--hidden", str(hidden_path), "--out", str(weights_path)]) == 0
    out = capsys.readouterr().out
    assert "ROC-AUC" in out
    weights = np.loadtxt(weights_path, delimiter=",", skiprows=1, usecols=range(1, 81))
    assert weights.shape == (1500, 80) and weights.min() >= 0 and weights.max() <= 1


def test_weights_fit_on_another_file(tmp_path, coco_sample):
    out = tmp_path / "w.csv"
    assert main(["weights", "--labels", str(coco_sample), "--fit-labels", str(coco_sample),
                 "--estimator", "pattern", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0].startswith("id,person,bicycle")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--labels", "absent.csv", "--ratio", "0.5", "--out", "o.csv"], "no such labels file"),
        (["simulate", "--labels", "{bad}", "--ratio", "0.5", "--out", "o.csv"], "holds '3'"),
        (["simulate", "--labels", "{good}", "--ratio", "1.5", "--out", "o.csv"], "expected a number in \\[0, 1\\]"),
        (["evaluate", "{dir}", "yeast"], "model.json not found"),
        (["evaluate", "{model}", "yeast"], "model.json: not a readable model description"),
        (["weights", "--labels", "{good}", "--estimator", "nope", "--out", "w.csv"], "Unknown weight estimator"),
        (["reproduce", "--methods", "nope", "--out", "run"], "Unknown method 'nope'. Valid names"),
        (["report", "{dir}"], "no results.sqlite"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("id,a,b\n1,0,3\n")  # 2 is a verified negative, -1 unknown
    (tmp_path / "good.csv").write_text("id,a,b\n1,0,1\n2,1,1\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("{truncated")
    (tmp_path / "model" / "model.pt").write_bytes(b"")
    argv = [a.format(bad="bad.csv", good="good.csv", dir=str(tmp_path), model="model") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"mlml {argv[0]}: error:")
    import re

    assert re.search(message, err)


def test_usage_errors_return_2_from_main(capsys):
    assert main(["simulate", "--labels", "x.csv", "--ratio", "0.5", "--scheme", "nope", "--out", "o.csv"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(["suggest", "yeast", "--top-k", "0"]) == 2
    assert "expected a positive integer" in capsys.readouterr().err
    assert main(["--version"]) == 0


def test_methods_lists_the_paper_methods(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("bce", "im-wce", "cb-wce"):
        assert f"  {name} " in out
    assert "[oracle]" in out


def test_train_then_evaluate_on_yeast(tmp_path, capsys):
    model = tmp_path / "model"
    assert main(["train", "yeast", "--out", str(model), "--method", "im-wce", "--ratio", "0.5", "--epochs", "5",
                 "--thresholds", "tuned"]) == 0
    for name in ("model.pt", "model.json", "observed.csv", "hidden.csv"):
        assert (model / name).is_file(), name
    observed, hidden = read_labels_csv(model / "observed.csv"), read_labels_csv(model / "hidden.csv")
    assert observed.values.shape == (2417, 14) and hidden.values.sum() > 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "yeast", "--out", str(tmp_path / "m.json")]) == 0
    import json

    metrics = json.loads((tmp_path / "m.json").read_text())
    assert 0.3 < metrics["map"] <= 1 and len(metrics["per_class_ap"]) == 14
    assert "micro_f1" in capsys.readouterr().out


def test_train_rejects_an_oracle_without_hidden_positives(tmp_path, capsys):
    assert main(["train", "yeast", "--out", str(tmp_path / "m"), "--method", "im-wce"]) == 2
    assert "needs hidden positives" in capsys.readouterr().err


def test_suggest_on_yeast_with_a_chosen_prior(tmp_path, capsys):
    out = tmp_path / "suggestions.csv"
    argv = ["suggest", "yeast", "--method", "labels", "--prior", "denoising-logistic", "--top-k", "30"]
    assert main([*argv, "--show", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split()[:4] == ["rank", "id", "label", "score"]
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30 and [int(r["rank"]) for r in rows] == list(range(1, 31))
    assert all(float(a["score"]) >= float(b["score"]) for a, b in zip(rows, rows[1:]))
    assert main(["suggest", "yeast", "--prior", "knn"]) == 2
    assert "must name a labels-only estimator" in capsys.readouterr().err


def test_the_cli_shows_the_library_messages_it_chooses(capsys):
    """The library logs, the command line decides what to show: INFO of mlml.experiments and mlml.tracking (notes,
    where a run was tracked), warnings of every mlml logger, not the per-epoch INFO lines of mlml.training
    (which `mlml train` turns on for itself)."""
    import logging

    from mlml.cli import show_messages

    logging.getLogger("mlml.training").setLevel(logging.NOTSET)  # as before any `mlml train` of this process
    show_messages()
    show_messages()  # idempotent: one handler, one line per message
    logging.getLogger("mlml.experiments").info("note: a note")
    logging.getLogger("mlml.tracking").warning("warning: not logged")
    logging.getLogger("mlml.training").info("epoch 0")
    err = capsys.readouterr().err
    assert err.count("note: a note") == 1 and "warning: not logged" in err and "epoch 0" not in err
