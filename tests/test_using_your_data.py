"""docs/using-your-data.md runs as written: every `mlml` command of its sh blocks and its Python block, on files made
from MULAN yeast (half of the training positives hidden)."""

import csv
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from mlml.cli import main
from mlml.labels import LabelTable, write_labels_csv
from mlml.simulate import hide_positives

DOC = Path(__file__).resolve().parents[1] / "docs" / "using-your-data.md"


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def user_files(tmp_path, monkeypatch, yeast):
    rows = np.random.default_rng(0).permutation(yeast.n_samples)
    train, holdout, new = rows[:1600], rows[1600:2000], rows[2000:]
    observed, _ = hide_positives(yeast.labels[train], 0.5, random_state=0)
    write_labels_csv(tmp_path / "labels.csv", LabelTable(yeast.ids[train], yeast.label_names, observed))
    write_labels_csv(tmp_path / "holdout.csv", LabelTable(yeast.ids[holdout], yeast.label_names,
                                                          yeast.labels[holdout]))
    (tmp_path / "new_ids.csv").write_text("id\n" + "\n".join(yeast.ids[new]) + "\n")
    np.savez(tmp_path / "features.npz", ids=yeast.ids, features=yeast.features)
    monkeypatch.chdir(tmp_path)
    return tmp_path, len(new)


@pytest.mark.slow
def test_the_page_runs_as_written(user_files, capsys):
    folder, n_new = user_files
    commands = [line for block in _blocks("sh") for line in block.splitlines() if line.startswith("mlml ")]
    assert len(commands) == 7
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
    out = capsys.readouterr().out
    assert "--thresholds own: the method 'knn-pu-em-balanced' decides with its own policy" in out
    with open(folder / "predictions.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][:2] == ["id", "predicted"] and len(table) == 1 + n_new
    assert len((folder / "top3.csv").read_text().splitlines()) == 1 + 3 * n_new
    (python,) = _blocks("python")
    exec(compile(python, str(DOC), "exec"), {})
    printed = capsys.readouterr().out
    assert "calibrated" in printed  # the policy `mlml decide` saved
