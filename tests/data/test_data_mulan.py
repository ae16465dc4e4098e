"""MULAN ARFF + XML loading (real files in ../shared/data/mulan, fixtures for the error paths) and yeast."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.data import describe, format_info, load
from mlml.data.duplicates import DuplicateSamplesWarning
from mlml.data.mulan import load_mulan, load_mulan_dir, load_river_yeast, read_mulan_xml, unescape_arff_name
from mlml.data.mulan_folder import parse_mulan_file_name
from mlml.exceptions import DataError, MLMLError

# MULAN's published statistics (github.com/tsoumakas/mulan, data/multi-label/README.md, the "Statistics" table):
# samples, features, labels, cardinality, density, distinct label sets; and whether the ARFF is sparse.
# One printed figure cannot equal the table's: emotions holds 1,108 positives in 593 samples, 1.86847 per sample,
# which is 1.868 to 3 decimals; MULAN's table says 1.869 (the uco.es repository and mldr give 1.868).
PRINTED_CARDINALITY = {"emotions": "1.868"}
PUBLISHED = {
    "yeast": (2417, 103, 14, "4.237", "0.303", 198, False),
    "scene": (2407, 294, 6, "1.074", "0.179", 15, False),
    "emotions": (593, 72, 6, "1.869", "0.311", 27, False),
    "medical": (978, 1449, 45, "1.245", "0.028", 94, True),
    "enron": (1702, 1001, 53, "3.378", "0.064", 753, True),
}


def _check_published(info: dict, name: str) -> None:
    n, d, c, cardinality, density, distinct, sparse = PUBLISHED[name]
    assert (info["n_samples"], info["n_features"], info["n_labels"]) == (n, d, c)
    assert info["feature_kind"] == ("sparse" if sparse else "dense")
    assert abs(info["cardinality"] - float(cardinality)) < 6e-4
    cardinality = PRINTED_CARDINALITY.get(name, cardinality)
    assert f"{info['cardinality']:.3f}" == cardinality
    assert f"{info['density']:.3f}" == density
    assert info["distinct_patterns"] == distinct
    text = format_info(info)
    for expected in (f"samples         {n:,}", f"features        {d:,} (", f"labels          {c:,}",
                     f"cardinality     {cardinality}", f"distinct label patterns  {distinct:,}"):
        assert expected in text, expected


def test_every_shared_mulan_folder_has_published_statistics(mulan_dir: Path) -> None:
    folders = sorted(p.name for p in mulan_dir.iterdir() if p.is_dir())
    assert folders, f"no MULAN folder in {mulan_dir}"
    assert set(folders) <= set(PUBLISHED), f"add MULAN's published statistics for {set(folders) - set(PUBLISHED)}"


def _brute_force_duplicates(data) -> int:
    """Samples equal to an earlier one, by comparing the bytes of whole dense rows (a slow reference)."""
    features = data.features.toarray() if sp.issparse(data.features) else data.features
    rows = {np.r_[features[i] + 0.0, data.labels[i]].tobytes() for i in range(data.n_samples)}
    return data.n_samples - len(rows)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_data_info_prints_mulan_published_statistics(mulan_dir: Path, name: str) -> None:
    if not (mulan_dir / name).is_dir():
        pytest.skip(f"{mulan_dir / name} absent")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(f"mulan:{mulan_dir / name}")
    info = describe(data)
    _check_published(info, name)
    # the published files hold a few identical samples themselves (scene, medical, enron): reported, kept
    expected = _brute_force_duplicates(data)
    assert info["duplicates"]["n_duplicates"] == data.provenance["duplicates"]["n_duplicates"] == expected
    assert any(issubclass(w.category, DuplicateSamplesWarning) for w in caught) == (expected > 0)


@pytest.mark.parametrize("name", ["emotions", "medical"])
def test_mulan_folder_as_distributed_reads_every_sample_once(shared_data: Path, mulan_dir: Path, name: str) -> None:
    folder = shared_data / "mulan-as-distributed" / name
    assert sorted(p.name for p in folder.glob("*.arff")) == [f"{name}-test.arff", f"{name}-train.arff", f"{name}.arff"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateSamplesWarning)  # medical's own duplicates; counted below
        data = load(f"mulan:{folder}")
    info = describe(data)
    _check_published(info, name)
    # the same data set, the same ids, as the folder holding the complete file alone
    alone = load_mulan_dir(mulan_dir / name)
    np.testing.assert_array_equal(data.ids, alone.ids)
    assert (data.features != alone.features).nnz == 0 if sp.issparse(data.features) else (
        np.array_equal(data.features, alone.features)
    )
    # no sample counted twice: only the duplicates the published file itself holds
    assert info["duplicates"]["n_duplicates"] == describe(alone)["duplicates"]["n_duplicates"]
    assert data.provenance["files"] == [str(folder / f"{name}.arff"), str(folder / f"{name}.xml")]
    skipped = {Path(s["file"]).name: s["reason"] for s in data.provenance["skipped_files"]}
    assert set(skipped) == {f"{name}-train.arff", f"{name}-test.arff"}
    assert skipped[f"{name}-train.arff"].startswith("train part: its ")
    text = format_info(info)
    assert "files skipped:" in text and f"{name}-test.arff: test part: its " in text


@pytest.mark.parametrize("name", ["emotions", "medical"])
def test_mulan_folder_split_option_reads_the_train_test_pair(shared_data: Path, name: str) -> None:
    folder = shared_data / "mulan-as-distributed" / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateSamplesWarning)  # medical's own duplicates
        data = load(f"mulan:{folder}", parts="split")
    n_train = load_mulan(folder / f"{name}-train.arff", folder / f"{name}.xml").n_samples
    assert data.n_samples == PUBLISHED[name][0]
    assert all(i.startswith(f"{name}-train:") for i in data.ids[:n_train])
    assert all(i.startswith(f"{name}-test:") for i in data.ids[n_train:])
    assert data.provenance["parts"] == [
        {"file": str(folder / f"{name}-train.arff"), "role": "train", "first_row": 0, "n_rows": n_train},
        {"file": str(folder / f"{name}-test.arff"), "role": "test", "first_row": n_train,
         "n_rows": data.n_samples - n_train},
    ]
    assert [Path(s["file"]).name for s in data.provenance["skipped_files"]] == [f"{name}.arff"]


def test_real_mulan_sets_keep_dtype_ids_and_xml_labels(mulan_dir: Path) -> None:
    for name in PUBLISHED:
        data = load_mulan_dir(mulan_dir / name)
        assert data.features.dtype == np.float32
        assert len(set(data.ids)) == data.n_samples
        assert set(data.label_names) == set(read_mulan_xml(next((mulan_dir / name).glob("*.xml"))))


def test_label_columns_keep_the_arff_order_not_the_xml_order(mulan_dir: Path) -> None:
    xml_order = read_mulan_xml(mulan_dir / "yeast" / "yeast.xml")
    assert xml_order.index("Class6") < xml_order.index("Class4")
    data = load_mulan_dir(mulan_dir / "yeast")
    assert data.label_names == [f"Class{i}" for i in range(1, 15)]
    assert any("differs from the XML order" in note for note in data.provenance["notes"])


def test_scene_merges_train_then_test(mulan_dir: Path) -> None:
    data = load_mulan_dir(mulan_dir / "scene")
    train = load_mulan(mulan_dir / "scene" / "scene-train.arff", mulan_dir / "scene" / "scene.xml")
    assert data.ids[0].startswith("scene-train:") and data.ids[-1].startswith("scene-test:")
    np.testing.assert_array_equal(data.labels[: train.n_samples], train.labels)
    np.testing.assert_array_equal(data.features[: train.n_samples], train.features)


def test_river_yeast_equals_the_arff_yeast(mulan_dir: Path) -> None:
    river = load_river_yeast()
    arff = load_mulan_dir(mulan_dir / "yeast")
    assert river.label_names == arff.label_names
    np.testing.assert_array_equal(river.ids, arff.ids)
    np.testing.assert_array_equal(river.labels, arff.labels)
    np.testing.assert_array_equal(river.features, arff.features)


def test_river_yeast_alone_matches_mulan_statistics() -> None:
    data = load_river_yeast()
    assert data.features.shape == (2417, 103) and data.n_labels == 14
    assert round(float(data.labels.sum(axis=1).mean()), 3) == 4.237


def _write(
    tmp_path: Path, arff: str, labels: tuple[str, ...] = ("L1", "L2"), name: str = "d"
) -> tuple[Path, Path]:
    arff_path = tmp_path / f"{name}.arff"
    arff_path.write_text(arff, encoding="utf-8")
    xml_path = tmp_path / f"{name}.xml"
    xml_path.write_text(
        '<?xml version="1.0"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">\n'
        + "".join(f'<label name="{label}"></label>\n' for label in labels)
        + "</labels>\n",
        encoding="utf-8",
    )
    return arff_path, xml_path


HEADER = (
    "@relation t\n@attribute L2 {0,1}\n@attribute f1 numeric\n@attribute col {red,green,blue}\n"
    "@attribute L1 {0,1}\n@data\n"
)


def test_dense_fixture_labels_anywhere_and_nominal_features_as_codes(tmp_path: Path) -> None:
    arff, xml = _write(tmp_path, HEADER + "% a comment\n1,0.5,blue,0\n0,-2,red,1\n")
    data = load_mulan(arff, xml)
    assert data.label_names == ["L2", "L1"]  # ARFF order
    np.testing.assert_array_equal(data.labels, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(data.features, np.array([[0.5, 2], [-2, 0]], dtype=np.float32))


def test_sparse_fixture_gives_csr_and_omitted_entries_are_zero(tmp_path: Path) -> None:
    arff, xml = _write(tmp_path, HEADER + "{0 1,1 2.5}\n{2 green,3 1}\n{}\n")
    data = load_mulan(arff, xml)
    assert sp.issparse(data.features)
    np.testing.assert_array_equal(data.features.toarray(), [[2.5, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(data.labels, [[1, 0], [0, 1], [0, 0]])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,0.5,blue,0\n1,zz,red,1\n", r"d\.arff:8: invalid ARFF"),
        ("1,0.5,blue,0\n1,1,purple,1\n", r"d\.arff:8: invalid ARFF"),
        ("1,0.5,blue,0\n1,1,red,?\n", r"d\.arff:8: attribute 'L1' is missing"),
    ],
)
def test_malformed_rows_name_the_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    arff, xml = _write(tmp_path, HEADER + body)
    with pytest.raises(DataError, match=message):
        load_mulan(arff, xml)


def test_numeric_label_outside_0_1_is_rejected_with_its_line(tmp_path: Path) -> None:
    text = (
        "@relation t\n@attribute f numeric\n@attribute L1 numeric\n@attribute L2 numeric\n@data\n"
        "1,0,1\n2,3,0\n"
    )
    arff, xml = _write(tmp_path, text)
    with pytest.raises(DataError, match=r"d\.arff:7: label attribute 'L1' holds 3"):
        load_mulan(arff, xml)


def test_xml_label_absent_from_arff(tmp_path: Path) -> None:
    arff, xml = _write(tmp_path, HEADER + "1,0.5,blue,0\n", labels=("L1", "L2", "L9"))
    with pytest.raises(DataError, match=r"'L9'"):
        load_mulan(arff, xml)


def test_malformed_xml_names_line(tmp_path: Path) -> None:
    arff, xml = _write(tmp_path, HEADER + "1,0.5,blue,0\n")
    xml.write_text('<labels>\n<label name="L1">\n</labels>\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.xml:3: not well-formed XML"):
        load_mulan(arff, xml)


def test_train_and_test_files_with_different_headers_are_refused(tmp_path: Path) -> None:
    arff, xml = _write(tmp_path, HEADER + "1,0.5,blue,0\n", name="d-train")
    other = tmp_path / "d-test.arff"
    other.write_text(HEADER.replace("f1", "f2") + "1,0.5,blue,0\n", encoding="utf-8")
    with pytest.raises(DataError, match="attributes differ"):
        load_mulan([arff, other], xml)


def test_mulan_dir_needs_one_xml(tmp_path: Path) -> None:
    _write(tmp_path, HEADER + "1,0.5,blue,0\n")
    (tmp_path / "extra.xml").write_text("<labels/>", encoding="utf-8")
    with pytest.raises(DataError, match="exactly one MULAN .xml"):
        load_mulan_dir(tmp_path)


def test_river_yeast_bad_label_value(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "yeast.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("Att1,Class1\n0.5,1\n0.2,2\n")
    with pytest.raises(DataError, match=r"yeast\.csv\.gz:3: label column 'Class1' holds 2"):
        load_river_yeast(path)


def test_river_yeast_accepts_a_byte_order_mark_and_refuses_nan_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "yeast.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\ufeffAtt1,Att2,Class1\n0.5,1,1\n0.2,2,0\n")
    data = load_river_yeast(path)
    assert data.features.shape == (2, 2) and data.label_names == ["Class1"]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("Att1,Att2,Class1\n0.5,1,1\n\n0.2,nan,0\n")
    with pytest.raises(DataError, match=r"yeast\.csv\.gz:4: column 'Att2' holds nan"):
        load_river_yeast(path)


# ---- attribute names with quotes, commas and spaces ------------------------------------------------------

QUOTED_HEADER = (
    "@relation quoted\n"
    "@attribute f1 numeric\n"
    "@attribute 'Example\\'s Label' {0,1}\n"
    "@attribute 'a,b' {0,1}\n"
    "@attribute f2 numeric\n"
    "@attribute 'my label' {0,1}\n"
    "@attribute \"double quoted\" {0,1}\n"
    "@data\n"
)
QUOTED_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">\n'
    '<label name="Example&apos;s Label"></label>\n<label name="a,b"></label>\n'
    "<label name='my label'></label>\n<label name=\"double quoted\"></label>\n</labels>\n"
)


@pytest.mark.parametrize(
    "body",
    ["0.5,1,0,2,1,0\n-1,0,1,3,0,1\n", "{0 0.5,1 1,3 2,4 1}\n{0 -1,2 1,3 3,5 1}\n"],
    ids=["dense", "sparse"],
)
def test_quoted_attribute_names_match_the_xml(tmp_path: Path, body: str) -> None:
    (tmp_path / "q.arff").write_text(QUOTED_HEADER + body, encoding="utf-8")
    (tmp_path / "q.xml").write_text(QUOTED_XML, encoding="utf-8")
    data = load_mulan(tmp_path / "q.arff", tmp_path / "q.xml")
    assert data.label_names == ["Example's Label", "a,b", "my label", "double quoted"]
    np.testing.assert_array_equal(data.labels, [[1, 0, 1, 0], [0, 1, 0, 1]])
    features = data.features.toarray() if sp.issparse(data.features) else data.features
    np.testing.assert_array_equal(features, [[0.5, 2], [-1, 3]])
    assert sp.issparse(data.features) == (body[0] == "{")


def test_xml_that_copies_the_arff_escapes_also_matches(tmp_path: Path) -> None:
    (tmp_path / "q.arff").write_text(QUOTED_HEADER + "0.5,1,0,2,1,0\n", encoding="utf-8")
    (tmp_path / "q.xml").write_text(QUOTED_XML.replace("Example&apos;s", "Example\\&apos;s"), encoding="utf-8")
    data = load_mulan(tmp_path / "q.arff", tmp_path / "q.xml")
    assert data.label_names[0] == "Example's Label"


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Example\\'s Label", "Example's Label"), ("a\\,b", "a,b"), ("100\\%", "100%"), ("back\\\\slash", "back\\slash"),
     ("tab\\there", "tab\there"), ("plain", "plain")],
)
def test_unescape_arff_name(raw: str, name: str) -> None:
    assert unescape_arff_name(raw) == name


# ---- NaN, infinity and float32 overflow --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "value"),
    [
        ("1,0.5,blue,0\n% comment\n0,nan,red,1\n", 9, "nan"),
        ("1,inf,blue,0\n", 7, "inf"),
        ("1,0.5,blue,0\n0,-1e39,red,1\n", 8, "-1e\\+39"),
        ("{1 0.5}\n{0 1,1 NaN,3 1}\n", 8, "nan"),
        ("{1 0.5}\n\n{1 -inf}\n", 9, "-inf"),
    ],
)
def test_non_finite_feature_names_file_line_and_attribute(tmp_path: Path, body: str, line: int, value: str) -> None:
    arff, xml = _write(tmp_path, HEADER + body)
    with pytest.raises(DataError, match=rf"d\.arff:{line}: attribute 'f1' holds {value}; values must be finite"):
        load_mulan(arff, xml)


def test_arff_with_a_byte_order_mark(tmp_path: Path) -> None:
    arff, xml = _write(tmp_path, "\ufeff" + HEADER + "1,0.5,blue,0\n")
    assert load_mulan(arff, xml).n_samples == 1


# ---- which files of a folder: complete file, train/test split, sparse copies ------------------------------

FOLDER_HEADER = (
    "@relation r\n@attribute f1 numeric\n@attribute f2 numeric\n@attribute L1 {0,1}\n@attribute L2 {0,1}\n@data\n"
)
ROWS = [(0.5, 0, 1, 0), (1.5, 2, 0, 1), (0, 3, 1, 1), (4, 0, 0, 0), (0, 0, 1, 0)]


def _dense(rows: list[tuple]) -> str:
    return "".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows)


def _sparse(rows: list[tuple]) -> str:
    return "".join("{" + ",".join(f"{j} {v:g}" for j, v in enumerate(row) if v) + "}\n" for row in rows)


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "set"
    folder.mkdir(parents=True)
    (folder / "set.xml").write_text(
        '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="L1"/><label name="L2"/></labels>',
        encoding="utf-8",
    )
    for name, body in files.items():
        (folder / name).write_text(FOLDER_HEADER + body, encoding="utf-8")
    return folder


def _skipped(data) -> dict[str, str]:
    return {Path(s["file"]).name: s["reason"] for s in data.provenance["skipped_files"]}


def test_folder_with_complete_file_and_split_reads_the_complete_file(tmp_path: Path) -> None:
    # the split lists the rows in another order, as medical's does
    folder = _folder(tmp_path, {"X.arff": _dense(ROWS), "X-train.arff": _dense(ROWS[3:]),
                                "X-test.arff": _dense(ROWS[:3])})
    data = load_mulan_dir(folder)
    assert data.ids.tolist() == [f"X:{i}" for i in range(5)]
    np.testing.assert_array_equal(data.labels, np.array(ROWS)[:, 2:])
    assert data.provenance["files"] == [str(folder / "X.arff"), str(folder / "set.xml")]
    assert _skipped(data) == {"X-test.arff": "test part: its 3 rows all occur in X.arff",
                              "X-train.arff": "train part: its 2 rows all occur in X.arff"}
    assert any("read X.arff, the complete file" in note for note in data.provenance["notes"])
    split = load_mulan_dir(folder, parts="split")
    assert split.ids.tolist() == ["X-train:0", "X-train:1", "X-test:0", "X-test:1", "X-test:2"]
    assert _skipped(split) == {"X.arff": "complete file: its 5 rows all occur in X-train.arff + X-test.arff"}


def test_folder_with_dense_and_sparse_copies_reads_one(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"X.arff": _dense(ROWS), "X-sparse.arff": _sparse(ROWS)})
    data = load_mulan_dir(folder)
    assert data.n_samples == 5 and not sp.issparse(data.features)
    assert _skipped(data) == {"X-sparse.arff": "complete file (sparse copy): its 5 rows all occur in X.arff"}
    # marked copies only: the sparse copy is read
    folder = _folder(tmp_path / "b", {"X-dense.arff": _dense(ROWS), "X_Sparse.arff": _sparse(ROWS)})
    data = load_mulan_dir(folder)
    assert sp.issparse(data.features) and data.ids[0] == "X_Sparse:0"
    assert describe(data)["duplicates"]["n_duplicates"] == 0


def test_folder_as_corel5k_ships_it_reads_one_file_of_six(tmp_path: Path) -> None:
    files = {"Corel5k.arff": _dense(ROWS), "Corel5k-train.arff": _dense(ROWS[:4]),
             "Corel5k-test.arff": _dense(ROWS[4:]), "Corel5k-sparse.arff": _sparse(ROWS),
             "Corel5k-train-sparse.arff": _sparse(ROWS[:4]), "Corel5k-test-sparse.arff": _sparse(ROWS[4:])}
    data = load(f"mulan:{_folder(tmp_path, files)}")
    assert data.n_samples == 5 and data.ids[0] == "Corel5k:0"
    assert len(data.provenance["skipped_files"]) == 5
    assert data.provenance["duplicates"]["n_duplicates"] == 0


def test_folder_of_cross_validation_folds_reads_one_fold_pair(tmp_path: Path) -> None:
    files = {"XTrain-1.arff": _dense(ROWS[2:]), "XTest-1.arff": _dense(ROWS[:2]),
             "XTrain-2.arff": _dense(ROWS[:2] + ROWS[4:]), "XTest-2.arff": _dense(ROWS[2:4])}
    data = load_mulan_dir(_folder(tmp_path, files))
    assert data.ids.tolist() == ["XTrain-1:0", "XTrain-1:1", "XTrain-1:2", "XTest-1:0", "XTest-1:1"]
    assert set(_skipped(data)) == {"XTrain-2.arff", "XTest-2.arff"}
    assert _skipped(data)["XTest-2.arff"].startswith("test part of fold 2: its 2 rows")


def test_folder_whose_copy_holds_other_rows_is_refused(tmp_path: Path) -> None:
    changed = [ROWS[0], (9, 9, 1, 1), ROWS[2]]
    folder = _folder(tmp_path, {"X.arff": _dense(ROWS), "X-train.arff": _dense(ROWS[3:]),
                                "X-test.arff": _dense(changed)})
    with pytest.raises(DataError, match=r"X-test\.arff is named as the test part .* 1 of its 3 rows .* not there"):
        load_mulan_dir(folder)


def test_folder_with_a_row_repeated_in_the_split_but_once_in_the_complete_file_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"X.arff": _dense(ROWS), "X-train.arff": _dense(ROWS[:3] + ROWS[:1]),
                                "X-test.arff": _dense(ROWS[3:])})
    with pytest.raises(DataError, match=r"X-train\.arff is named as the train part .* 1 of its 4 rows"):
        load_mulan_dir(folder)


def test_folder_of_different_data_sets_concatenates_them_and_reports_overlap(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"A.arff": _dense(ROWS[:3]), "B.arff": _dense(ROWS[2:])})
    with pytest.warns(DuplicateSamplesWarning, match=r"1 sample repeats an earlier one .* A:2 = B:0"):
        data = load(f"mulan:{folder}")
    assert data.n_samples == 6
    assert load(f"mulan:{folder}", drop_duplicates=True).n_samples == 5


def test_mulan_parts_option_is_checked(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"X.arff": _dense(ROWS)})
    with pytest.raises(MLMLError, match="'parts' parameter of load_mulan_dir"):
        load_mulan_dir(folder, parts="train")


@pytest.mark.parametrize(
    ("file_name", "base", "role", "fold", "copy"),
    [
        ("emotions.arff", "emotions", "complete", None, None),
        ("emotions-train.arff", "emotions", "train", None, None),
        ("scene_test.arff", "scene", "test", None, None),
        ("Corel5k-train-sparse.arff", "corel5k", "train", None, "sparse"),
        ("Corel5k-sparse.arff", "corel5k", "complete", None, "sparse"),
        ("X-sparse-test.arff", "x", "test", None, "sparse"),
        ("yeastTrain-6.arff", "yeast", "train", "6", None),
        ("medicalTest-10.arff", "medical", "test", "10", None),
        ("tmc2007-500-train.arff", "tmc2007-500", "train", None, None),
        ("tmc2007-500.arff", "tmc2007-500", "complete", None, None),
        ("emotions10-test.arff", "emotions10", "test", None, None),
        ("test.arff", "test", "complete", None, None),
        ("my-test-data.arff", "my-test-data", "complete", None, None),
    ],
)
def test_parse_mulan_file_name(file_name: str, base: str, role: str, fold: str | None, copy: str | None) -> None:
    name = parse_mulan_file_name(file_name)
    assert (name.base, name.role, name.fold, name.copy) == (base, role, fold, copy)
