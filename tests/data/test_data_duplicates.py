"""Identical samples: row hashes (dense = CSR), exact groups, the report, load()'s warning and drop option."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.cli import main
from mlml.data import Dataset, describe, format_info, load
from mlml.data import duplicates as dup
from mlml.data.duplicates import (
    DuplicateSamplesWarning,
    check_duplicates,
    duplicate_groups,
    duplicate_report,
    feature_row_hashes,
    label_row_hashes,
)
from mlml.exceptions import MLMLError
from mlml.labels import write_matrix_csv


def _reference_groups(features: np.ndarray, labels: np.ndarray) -> list[list[int]]:
    """Groups by literal comparison of every pair of rows (the slow definition)."""
    groups, seen = [], set()
    for i in range(len(labels)):
        if i in seen:
            continue
        same = [j for j in range(i + 1, len(labels))
                if np.array_equal(features[i], features[j]) and np.array_equal(labels[i], labels[j])]
        if same:
            groups.append([i, *same])
            seen.update(same)
    return groups


def test_groups_equal_a_pairwise_reference_on_random_data_with_planted_copies(toy_dataset) -> None:
    rng = np.random.default_rng(0)
    features = rng.integers(0, 3, size=(300, 6)).astype(np.float32)  # small alphabet: many equal feature rows
    labels = rng.integers(0, 2, size=(300, 4))
    features[250:] = features[:50]
    labels[250:] = labels[:50]
    expected = _reference_groups(features, labels)
    assert len(expected) >= 50
    for matrix in (features, sp.csr_matrix(features)):
        got = [g.tolist() for g in duplicate_groups(toy_dataset(labels, matrix))]
        assert got == expected


def test_dense_and_sparse_rows_of_equal_values_hash_alike() -> None:
    dense = np.array([[0, 1.5, 0, -2], [0, 0, 0, 0], [-0.0, 1.5, 0, -2]], dtype=np.float32)
    csr = sp.csr_matrix(dense)
    csr.data[0] = 1.5  # keep explicit entries; then add an explicit zero
    with_zero = sp.csr_matrix((np.r_[csr.data, 0.0], np.r_[csr.indices, 0], [0, 2, 2, 5]), shape=(3, 4))
    np.testing.assert_array_equal(feature_row_hashes(dense), feature_row_hashes(csr))
    np.testing.assert_array_equal(feature_row_hashes(dense), feature_row_hashes(with_zero))
    hashes = feature_row_hashes(dense)
    assert hashes[0] == hashes[2] != hashes[1]  # -0.0 equals 0.0
    assert feature_row_hashes(np.array([[1.0, 2.0]]))[0] != feature_row_hashes(np.array([[2.0, 1.0]]))[0]
    labels = np.array([[1, 0, 1], [0, 1, 1]], dtype=np.int8)
    np.testing.assert_array_equal(label_row_hashes(labels), label_row_hashes(sp.csr_matrix(labels)))


def test_same_features_with_other_labels_are_not_duplicates(toy_dataset) -> None:
    features = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    groups = duplicate_groups(toy_dataset([[1, 0], [0, 1], [1, 0]], features))
    assert [g.tolist() for g in groups] == [[0, 2]]


def test_a_hash_collision_never_merges_different_samples(monkeypatch: pytest.MonkeyPatch, toy_dataset) -> None:
    monkeypatch.setattr(dup, "sample_hashes", lambda data: np.zeros(data.n_samples, dtype=np.uint64))
    features = np.array([[1.0], [2.0], [1.0], [3.0], [2.0]])
    groups = duplicate_groups(toy_dataset([[1]] * 5, features))
    assert [g.tolist() for g in groups] == [[0, 2], [1, 4]]


def test_image_data_compares_files_and_labels_only_data_is_not_checked(toy_dataset) -> None:
    data = toy_dataset([[1, 0], [1, 0], [1, 0]], ["a.png", "b.png", "a.png"], images=True)
    report = duplicate_report(data)
    assert report["compared"] == "image files and labels"
    assert report["n_duplicates"] == 1 and report["examples"] == [["s0", "s2"]]
    labels_only = Dataset("l", np.array([[1, 0], [1, 0]], dtype=np.int8), ["a", "b"], ["x", "y"])
    assert duplicate_report(labels_only)["n_duplicates"] is None
    assert "not checked" in format_info(describe(labels_only))


def test_report_warning_and_drop(toy_dataset) -> None:
    features = np.array([[1.0, 0], [2.0, 0], [1.0, 0], [1.0, 0], [3.0, 0]])
    labels = [[1, 0], [0, 1], [1, 0], [1, 0], [1, 1]]
    expected = r"'toy': 2 samples repeat an earlier one \(1 group .* s0 = s2 = s3"
    with pytest.warns(DuplicateSamplesWarning, match=expected):
        checked = check_duplicates(toy_dataset(labels, features))
    assert checked.n_samples == 5
    assert checked.provenance["duplicates"] == {
        "compared": "features and labels", "n_duplicates": 2, "n_groups": 1, "examples": [["s0", "s2", "s3"]]
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dropped = check_duplicates(toy_dataset(labels, features), drop=True)
    assert dropped.ids.tolist() == ["s0", "s1", "s4"]
    assert dropped.provenance["filters"] == [{"filter": "drop_duplicates", "value": True, "removed_samples": 2}]
    assert "none (features and labels compared)" in format_info(describe(dropped))


def test_duplicate_search_is_fast_at_coco_size(toy_dataset) -> None:
    rng = np.random.default_rng(1)
    n = 33_052
    labels = (rng.random((n, 80)) < 0.066).astype(np.int8)
    features = rng.standard_normal((n, 512)).astype(np.float32)
    features[-500:], labels[-500:] = features[:500], labels[:500]
    per_row = 50  # a bag of 50 words per sample out of 5,000
    sparse = sp.csr_matrix(
        (rng.random(n * per_row, dtype=np.float32), rng.integers(0, 5_000, n * per_row),
         np.arange(0, n * per_row + 1, per_row)),
        shape=(n, 5_000),
    )
    half = n // 2  # the worst case for the exact check: every sample twice (a folder read twice)
    doubled = (np.r_[features[:half], features[:half]], np.r_[labels[:half], labels[:half]])
    for matrix, y in ((features, labels), (sparse, labels), doubled):
        data = toy_dataset(y, matrix)
        start = time.perf_counter()
        groups = duplicate_groups(data)
        seconds = time.perf_counter() - start
        assert seconds < 3.0, f"{seconds:.2f} s for {n} rows"
    assert len(groups) == half and all(g.tolist() == [g[0], g[0] + half] for g in groups)
    assert sum(len(g) - 1 for g in duplicate_groups(toy_dataset(labels, features))) == 500


# ---- through load() and the CLI ----------------------------------------------------------------------------


@pytest.fixture()
def overlapping_csv(tmp_path: Path) -> tuple[Path, Path]:
    labels = write_matrix_csv(tmp_path / "labels.csv", ["a", "b", "c", "d"], ["x", "y"],
                              np.array([[1, 0], [0, 1], [1, 0], [1, 0]]))
    features = tmp_path / "features.csv"
    features.write_text("id,u,v\na,1,2\nb,1,2\nc,1,2\nd,5,6\n", encoding="utf-8")
    return labels, features


def test_load_reports_duplicates_and_drops_them_on_request(overlapping_csv: tuple[Path, Path]) -> None:
    labels, features = overlapping_csv
    with pytest.warns(DuplicateSamplesWarning, match="a = c"):
        data = load(f"csv:{labels},{features}")
    assert data.provenance["duplicates"]["n_duplicates"] == 1
    assert "duplicates      1 sample repeats an earlier one (1 group of" in format_info(describe(data))
    dropped = load(f"csv:{labels},{features}", drop_duplicates=True, min_labels=1)
    assert dropped.ids.tolist() == ["a", "b", "d"]
    assert [step["filter"] for step in dropped.provenance["filters"]] == ["drop_duplicates", "min_labels"]
    assert "drop_duplicates=True: removed 1 samples" in format_info(describe(dropped))
    with pytest.raises(MLMLError, match="'drop_duplicates' parameter of load must be a bool"):
        load(f"csv:{labels},{features}", drop_duplicates="yes")


def test_cli_data_info_drop_duplicates(overlapping_csv: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    labels, features = overlapping_csv
    assert main(["data", "info", f"csv:{labels},{features}"]) == 0  # the CLI prints the warning as one line
    captured = capsys.readouterr()
    assert "samples         4" in captured.out
    assert "mlml data info: warning:" in captured.err and "add --drop-duplicates" in captured.err
    assert main(["data", "info", f"csv:{labels},{features}", "--drop-duplicates"]) == 0
    out = capsys.readouterr().out
    assert "samples         3" in out and "drop_duplicates=True: removed 1 samples" in out
