"""The seed-folds CSV files (labels, folds, hidden) as written by spreadsheet programs: a UTF-8 byte-order mark."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mlml.data.seedfolds import FOLDS_FILE, HIDDEN_FILE, LABELS_FILE, load_seed_folds


def _write(path: Path, text: str, *, bom: bool) -> None:
    with gzip.open(path, "wb") as handle:
        handle.write((b"\xef\xbb\xbf" if bom else b"") + text.encode())


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
def test_seed_folds_files_with_a_byte_order_mark(tmp_path: Path, quoted: bool) -> None:
    _write(tmp_path / LABELS_FILE, "id,cat,dog\n1,1,1\n2,1,0\n", bom=True)
    _write(tmp_path / FOLDS_FILE, "id,fold\n1,1\n2,2\n" if not quoted else 'id,fold\n"1",1\n2,2\n', bom=True)
    _write(tmp_path / HIDDEN_FILE, "ratio,fold,id,label\n0.5,1,2,cat\n", bom=True)
    folds = load_seed_folds(tmp_path)
    assert folds.label_names == ["cat", "dog"]
    np.testing.assert_array_equal(folds.folds, [1, 2])
    assert folds.hidden_row.tolist() == [1] and folds.hidden_col.tolist() == [0]
