"""Issue 20's smaller points: warnings whose advice is true for the command, any id column name, label columns
aligned by name, classes named in metrics and warnings."""

import argparse
import io
import json
import warnings

import numpy as np
import pytest

from mlml.cli import _warning_printer, main
from mlml.data import load
from mlml.data.duplicates import DuplicateSamplesWarning
from mlml.evaluation import UndefinedMetricWarning, evaluate
from mlml.labels import LabelTable, read_labels_csv, write_labels_csv


@pytest.fixture
def duplicated(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,a,b\n1,1,0\n2,1,0\n3,0,1\n4,1,1\n")
    features = tmp_path / "X.npy"
    np.save(features, np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], dtype=np.float32))
    return f"csv:{labels},{features}"


def test_the_duplicate_warning_names_the_flag_only_where_the_command_has_it(duplicated, capsys):
    assert main(["data", "info", duplicated]) == 0
    err = capsys.readouterr().err
    assert "mlml data info: warning:" in err and "add --drop-duplicates to keep one of each" in err
    assert "DuplicateSamplesWarning" not in err  # one readable line, not Python's warning format
    show = _warning_printer(argparse.Namespace(verb="reproduce"))  # reproduce has no --drop-duplicates
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load(duplicated)
    assert caught[0].category is DuplicateSamplesWarning
    show(caught[0].message, caught[0].category, "", 0, file=out)
    assert "`mlml reproduce` keeps every sample" in out.getvalue() and "--drop-duplicates" not in out.getvalue()


def test_the_id_column_may_have_any_name(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("sample,cat,dog\nx1,1,0\nx2,0,1\n")
    table = read_labels_csv(path)
    assert list(table.ids) == ["x1", "x2"] and table.names == ["cat", "dog"]
    features = tmp_path / "X.csv"
    features.write_text("sample,f1\nx2,0.5\nx1,1.5\n")
    dataset = load(f"csv:{path},{features}")
    np.testing.assert_array_equal(dataset.features[:, 0], [1.5, 0.5])


def test_reordered_label_columns_are_aligned_to_the_model_by_name(tmp_path, capsys):
    model = tmp_path / "m"
    assert main(["train", "yeast", "--method", "bce", "--epochs", "2", "--quiet", "--out", str(model)]) == 0
    yeast = load("yeast")
    ids, X = yeast.ids[:400], yeast.features[:400]
    np.save(tmp_path / "X.npy", X)
    straight, reordered, short = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    order = np.arange(yeast.n_labels)[::-1]
    write_labels_csv(straight, LabelTable(ids, yeast.label_names, yeast.labels[:400]))
    write_labels_csv(reordered, LabelTable(ids, [yeast.label_names[j] for j in order], yeast.labels[:400][:, order]))
    write_labels_csv(short, LabelTable(ids, yeast.label_names[1:], yeast.labels[:400, 1:]))
    for name in ("a", "b"):
        assert main(["evaluate", str(model), f"csv:{tmp_path / name}.csv,{tmp_path / 'X.npy'}",
                     "--out", str(tmp_path / f"{name}.json")]) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a == b and a["label_names"] == yeast.label_names
    capsys.readouterr()
    assert main(["evaluate", str(model), f"csv:{short},{tmp_path / 'X.npy'}"]) == 2
    assert "lacks the model's label(s) 'Class1'" in capsys.readouterr().err


def test_undefined_classes_are_named_in_the_warning():
    y = np.array([[1, 0], [0, 0], [1, 0]], dtype=np.int8)
    with pytest.warns(UndefinedMetricWarning, match="classes 'dog'"):
        evaluate(y, np.full(y.shape, 0.3), label_names=["cat", "dog"])
