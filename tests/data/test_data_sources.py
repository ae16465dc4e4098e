"""SOURCE parsing, load() with filters, Dataset, describe/format_info, and the generic csv: source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.data import Dataset, apply_filters, describe, format_info, load, parse_source
from mlml.exceptions import DataError, MLMLError
from mlml.labels import write_matrix_csv


def test_data_info_yeast_prints_mulan_published_statistics() -> None:
    info = describe(load("yeast"))
    assert (info["n_samples"], info["n_features"], info["n_labels"]) == (2417, 103, 14)
    assert f"{info['cardinality']:.3f}" == "4.237"
    assert info["distinct_patterns"] == 198  # MULAN's published number of distinct label sets
    text = format_info(info)
    for expected in ("2,417", "103 (dense)", "4.237", "198", "Class12"):
        assert expected in text
    assert len(info["top_labels"]) == 14


@pytest.mark.parametrize(
    ("source", "kind", "args"),
    [
        ("yeast", "yeast", []),
        ("mulan:a/scene", "mulan", ["a/scene"]),
        ("mulan:a.arff,b.arff,a.xml", "mulan", ["a.arff", "b.arff", "a.xml"]),
        ("coco:ann.json,imgs", "coco", ["ann.json", "imgs"]),
        ("nuswide:/data/nus", "nuswide", ["/data/nus"]),
        ("openclipart", "openclipart", []),
        ("csv:l.csv,f.npy", "csv", ["l.csv", "f.npy"]),
    ],
)
def test_parse_source(source: str, kind: str, args: list[str]) -> None:
    assert parse_source(source) == (kind, args)


@pytest.mark.parametrize("source", ["", "imagenet", "yeast:x", "nuswide:", "csv:a,b,c", "coco:"])
def test_bad_sources_list_the_valid_forms(source: str) -> None:
    with pytest.raises(MLMLError, match="Valid forms: yeast"):
        parse_source(source)


def test_unknown_loader_option_is_an_error() -> None:
    with pytest.raises(MLMLError, match="unexpected keyword argument 'bogus'"):
        load("yeast", bogus=1)


def test_filters_remove_and_report_in_order(toy_dataset) -> None:
    toy = toy_dataset([[1, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0], [0, 0, 0]])
    out = apply_filters(toy, min_label_frequency=2, min_labels=1, drop_empty=True)
    assert out.label_names == ["c0", "c1"]  # c2 has one positive
    # without c2, sample s2 has no positive left: min_labels=1 removes it and s4
    np.testing.assert_array_equal(out.ids, ["s0", "s1", "s3"])
    np.testing.assert_array_equal(out.features, toy.features[[0, 1, 3]])
    steps = {s["filter"]: s for s in out.provenance["filters"]}
    assert steps["min_label_frequency"]["removed_labels"] == 1
    assert steps["min_label_frequency"]["removed_label_names"] == ["c2"]
    assert steps["min_labels"]["removed_samples"] == 2
    assert steps["drop_empty"]["removed_samples"] == 0
    assert toy.provenance["filters"] == []  # the input is untouched
    assert "min_labels=1: removed 2 samples" in format_info(describe(out))


def test_filters_on_real_yeast_match_a_direct_count() -> None:
    full = load("yeast")
    filtered = load("yeast", min_labels=5)
    per_sample = full.labels.sum(axis=1)
    assert filtered.n_samples == int((per_sample >= 5).sum())
    assert filtered.provenance["filters"][0]["removed_samples"] == int((per_sample < 5).sum())


def test_filters_reject_bad_values_and_emptying(toy_dataset) -> None:
    toy = toy_dataset([[1, 0], [0, 1]])
    with pytest.raises(MLMLError, match="'min_labels' parameter of load must be an int >= 0"):
        apply_filters(toy, min_labels=-1)
    with pytest.raises(MLMLError, match="removes every sample"):
        apply_filters(toy, min_labels=2)
    with pytest.raises(MLMLError, match="removes every label"):
        apply_filters(toy, min_label_frequency=5)


def test_dataset_subset_and_validation(toy_dataset) -> None:
    toy = toy_dataset([[1, 0], [0, 1], [1, 1]])
    sub = toy.subset([2, 0])
    np.testing.assert_array_equal(sub.ids, ["s2", "s0"])
    np.testing.assert_array_equal(sub.labels, [[1, 1], [1, 0]])
    assert sub.subset(np.array([True, False])).ids.tolist() == ["s2"]
    with pytest.raises(MLMLError, match="out of range"):
        toy.subset([3])
    with pytest.raises(MLMLError, match="occurs more than once"):
        Dataset("d", np.eye(2, dtype=np.int8), ["a", "b"], ["x", "x"])
    with pytest.raises(MLMLError, match="values"):
        Dataset("d", np.array([[3, 0]]), ["a", "b"], ["x"])
    partial = Dataset("d", np.array([[1, 2], [-1, 0]]), ["a", "b"], ["x", "y"])  # partial annotations load
    assert partial.partial and not toy.partial
    csr = Dataset("d", sp.csr_matrix(np.eye(3, dtype=np.int8)), ["a", "b", "c"], ["x", "y", "z"])
    assert sp.issparse(csr.subset([0, 2]).labels)
    assert describe(csr)["distinct_patterns"] == 3


# ---- csv: labels joined with features or images ------------------------------------------------------------


@pytest.fixture()
def labels_csv(tmp_path: Path) -> Path:
    return write_matrix_csv(
        tmp_path / "labels.csv", ["a", "b", "c"], ["x", "y"], np.array([[1, 0], [0, 1], [1, 1]])
    )


def test_csv_with_features_in_every_format(tmp_path: Path, labels_csv: Path) -> None:
    features = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    np.save(tmp_path / "f.npy", features)
    # id-keyed files list the rows in another order, plus one row without labels
    ids = np.array(["c", "a", "zz", "b"])
    keyed = np.array([[5.0, 6.0], [1.0, 2.0], [9.0, 9.0], [3.0, 4.0]])
    np.savez(tmp_path / "f.npz", ids=ids, features=keyed)
    sp.save_npz(tmp_path / "s.npz", sp.csr_matrix(features))
    with open(tmp_path / "f.csv", "w", encoding="utf-8") as handle:
        handle.write("id,u,v\n" + "".join(f"{i},{r[0]},{r[1]}\n" for i, r in zip(ids, keyed)))
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.table({"id": ids, "u": keyed[:, 0], "v": keyed[:, 1]}), tmp_path / "f.parquet")
    for name in ("f.npy", "f.npz", "s.npz", "f.csv", "f.parquet"):
        data = load(f"csv:{labels_csv},{tmp_path / name}")
        dense = data.features.toarray() if sp.issparse(data.features) else data.features
        np.testing.assert_array_equal(dense, features.astype(np.float32), err_msg=name)
        assert data.label_names == ["x", "y"]
    assert sp.issparse(load(f"csv:{labels_csv},{tmp_path / 's.npz'}").features)
    notes = load(f"csv:{labels_csv},{tmp_path / 'f.csv'}").provenance["notes"]
    assert "1 feature rows/images without labels ignored" in notes


def test_csv_with_image_folder(tmp_path: Path, labels_csv: Path) -> None:
    folder = tmp_path / "img"
    (folder / "sub").mkdir(parents=True)
    for stem in ("a", "b"):
        (folder / f"{stem}.png").write_bytes(b"")
    (folder / "sub" / "c.jpg").write_bytes(b"")
    data = load(f"csv:{labels_csv},{folder}")
    assert [p.name for p in data.image_paths] == ["a.png", "b.png", "c.jpg"]
    (folder / "sub" / "c.jpg").unlink()
    with pytest.raises(DataError, match=r"no image for 1 of the 3 labelled ids \(e\.g\. 'c'\)"):
        load(f"csv:{labels_csv},{folder}")


def test_csv_mismatched_ids(tmp_path: Path, labels_csv: Path) -> None:
    np.savez(tmp_path / "f.npz", ids=np.array(["a", "b", "q"]), features=np.ones((3, 2)))
    with pytest.raises(DataError, match=r"f\.npz: no features for 1 of the 3 labelled ids \(e\.g\. 'c'\)"):
        load(f"csv:{labels_csv},{tmp_path / 'f.npz'}")
    np.save(tmp_path / "short.npy", np.ones((2, 2)))
    with pytest.raises(DataError, match="2 feature rows for 3 labelled samples"):
        load(f"csv:{labels_csv},{tmp_path / 'short.npy'}")


def test_csv_bad_values(tmp_path: Path, labels_csv: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,x,y\na,1,0\nb,3,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv:3: column 'x' holds '3'"):
        load(f"csv:{bad}")
    partial = tmp_path / "partial.csv"  # partial annotations: -1 unannotated, 2 verified negative (issue 14)
    partial.write_text("id,x,y\na,1,2\nb,-1,1\n", encoding="utf-8")
    loaded = load(f"csv:{partial}")
    assert loaded.partial and loaded.labels.tolist() == [[1, 2], [-1, 1]]
    feats = tmp_path / "feats.csv"
    feats.write_text("id,u\na,1\nb,oops\nc,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"feats\.csv:3: column 'u' holds 'oops'"):
        load(f"csv:{labels_csv},{feats}")
    feats.write_text("id,u\na,1\nb\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"feats\.csv:3: expected 2 fields"):
        load(f"csv:{labels_csv},{feats}")
    other = tmp_path / "features.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="unknown features format"):
        load(f"csv:{labels_csv},{other}")


# ---- NaN / inf features name the file and the row; a UTF-8 byte-order mark is accepted ----------------------


def test_csv_features_nan_inf_and_float32_overflow_name_file_line_and_column(tmp_path: Path, labels_csv: Path) -> None:
    feats = tmp_path / "feats.csv"
    for value, shown in (("nan", "nan"), ("-inf", "-inf"), ("1e39", "1e\\+39")):
        feats.write_text(f"id,u,v\na,1,2\n\nb,3,{value}\nc,5,6\n", encoding="utf-8")
        with pytest.raises(DataError, match=rf"feats\.csv:4: column 'v' \(id 'b'\) holds {shown}; features must be"):
            load(f"csv:{labels_csv},{feats}")


def test_binary_features_with_nan_or_inf_name_the_row(tmp_path: Path, labels_csv: Path) -> None:
    features = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    features[2, 1] = np.nan
    np.save(tmp_path / "f.npy", features)
    with pytest.raises(DataError, match=r"f\.npy: row 2 \(id 'c'\), column 1 \(0-based\) holds nan"):
        load(f"csv:{labels_csv},{tmp_path / 'f.npy'}")
    keyed = np.array([[5.0, 6.0], [np.inf, 2.0], [3.0, 4.0]])
    np.savez(tmp_path / "k.npz", ids=np.array(["c", "a", "b"]), features=keyed)
    with pytest.raises(DataError, match=r"k\.npz: row 1 \(id 'a'\), column 0 \(0-based\) holds inf"):
        load(f"csv:{labels_csv},{tmp_path / 'k.npz'}")
    sparse = sp.csr_matrix(np.array([[0, 1.0], [0, 0], [-np.inf, 0]]))
    sp.save_npz(tmp_path / "s.npz", sparse)
    with pytest.raises(DataError, match=r"s\.npz: row 2 \(id 'c'\), column 0 \(0-based\) holds -inf"):
        load(f"csv:{labels_csv},{tmp_path / 's.npz'}")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.table({"id": ["a", "b", "c"], "u": [1.0, float("nan"), 2.0]}), tmp_path / "f.parquet")
    with pytest.raises(DataError, match=r"f\.parquet: row 1 \(id 'b'\), column 0 \(0-based\) holds nan"):
        load(f"csv:{labels_csv},{tmp_path / 'f.parquet'}")


def test_csv_files_with_a_byte_order_mark(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_bytes("\ufeffid,x,y\na,1,0\nb,0,1\n".encode())
    feats = tmp_path / "feats.csv"
    feats.write_bytes("\ufeffid,u\nb,2\na,1\n".encode())
    data = load(f"csv:{labels},{feats}")
    assert data.label_names == ["x", "y"] and data.ids.tolist() == ["a", "b"]
    np.testing.assert_array_equal(data.features, [[1], [2]])
