"""The Extreme Classification Repository's format: ``xc:FILE[,TEST_FILE]``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.cli import main
from mlml.data import load
from mlml.data.xc import load_xc, read_xc_file
from mlml.exceptions import DataError, MLMLError

TRAIN = """4 6 5
0,3 0:1.5 4:2
 1:0.25 5:-1
2
1,4,0 2:3e-1
"""
TEST = """2 6 5
3 0:1
 \n"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_labels_and_features_sparse(tmp_path):
    part = read_xc_file(_write(tmp_path, "a_train.txt", TRAIN))
    assert sp.issparse(part.labels) and part.labels.dtype == np.int8
    assert sp.issparse(part.features) and part.features.dtype == np.float32
    assert part.labels.toarray().tolist() == [[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [1, 1, 0, 0, 1]]
    want = np.zeros((4, 6), dtype=np.float32)
    want[0, [0, 4]] = [1.5, 2]
    want[1, [1, 5]] = [0.25, -1]
    want[3, 2] = 0.3
    np.testing.assert_array_equal(part.features.toarray(), want)


def test_train_and_test_files_are_merged_with_provenance(tmp_path):
    train, test = _write(tmp_path, "a_train.txt", TRAIN), _write(tmp_path, "a_test.txt", TEST)
    dataset = load(f"xc:{train},{test}")
    assert dataset.name == "a"
    assert dataset.labels.shape == (6, 5) and sp.issparse(dataset.labels) and sp.issparse(dataset.features)
    assert dataset.ids[:2].tolist() == ["a_train:0", "a_train:1"] and dataset.ids[4] == "a_test:0"
    assert dataset.labels[4].toarray().tolist() == [[0, 0, 0, 1, 0]]
    assert dataset.labels[5].nnz == 0 and dataset.features[5].nnz == 0
    parts = dataset.provenance["parts"]
    assert [(p["role"], p["first_row"], p["n_rows"]) for p in parts] == [("train", 0, 4), ("test", 4, 2)]
    assert dataset.provenance["source"] == f"xc:{train},{test}"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("4 6\n", ":1:", "header"),
        ("2 6 5\n0 0:1\n", ":1:", "announces 2 samples"),
        ("2 6 5\n0 0:1\n5 1:1\n", ":3:", "label id 5 is out of range"),
        ("2 6 5\n0 0:1\n1 9:1\n", ":3:", "feature index 9 is out of range"),
        ("2 6 5\n0 0:1\n1 2:x\n", ":3:", "bad feature token '2:x'"),
        ("2 6 5\n0 0:1\n1 2\n", ":3:", "bad feature token '2'"),
        ("2 6 5\n0,a 0:1\n1 2:1\n", ":2:", "bad label id 'a'"),
        ("2 6 5\n0,0 0:1\n1 2:1\n", ":2:", "label 0 is listed twice"),
        ("2 6 5\n0 0:1 0:2\n1 2:1\n", ":2:", "feature 0 is listed twice"),
        ("2 6 5\n0 0:inf\n1 2:1\n", ":2:", "not a finite float32"),
        ("2 6 5\n0 0:1\n1.5 2:1\n", ":3:", "not an integer"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, where, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(DataError, match=message) as info:
        read_xc_file(path)
    assert f"{path}{where}" in str(info.value) and "\n" not in str(info.value)


def test_files_of_one_data_set_must_agree(tmp_path):
    train = _write(tmp_path, "a.txt", TRAIN)
    other = _write(tmp_path, "b.txt", "1 7 5\n0 0:1\n")
    with pytest.raises(DataError, match="must agree"):
        load_xc(train, other)
    with pytest.raises(MLMLError, match="'xc' takes"):
        load(f"xc:{train},{other},{other}")
    with pytest.raises(DataError, match="no such XC data file"):
        load(f"xc:{tmp_path / 'missing.txt'}")


def test_data_info_does_not_densify(tmp_path, monkeypatch, capsys):
    path = _write(tmp_path, "a_train.txt", TRAIN)

    def refuse(self, *args, **kwargs):
        raise AssertionError("densified")

    monkeypatch.setattr(sp.csr_matrix, "toarray", refuse)
    monkeypatch.setattr(sp.csr_matrix, "todense", refuse)
    assert main(["data", "info", f"xc:{path}"]) == 0
    out = capsys.readouterr().out
    assert "samples         4" in out and "labels          5" in out and "6 (sparse)" in out
    assert "samples without a positive  1" in out
