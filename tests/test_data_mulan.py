"""MULAN ARFF + XML loading (real files in ../shared/data/mulan, fixtures for the error paths) and yeast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.data.mulan import load_mulan, load_mulan_dir, load_river_yeast, read_mulan_xml
from mlml.exceptions import DataError

# Published MULAN statistics: samples, features, labels, cardinality (3 decimals), sparse features.
PUBLISHED = {
    "yeast": (2417, 103, 14, 4.237, False),
    "scene": (2407, 294, 6, 1.074, False),
    "emotions": (593, 72, 6, 1.869, False),
    "medical": (978, 1449, 45, 1.245, True),
    "enron": (1702, 1001, 53, 3.378, True),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_real_mulan_sets_match_published_statistics(mulan_dir: Path, name: str) -> None:
    n, d, c, cardinality, sparse = PUBLISHED[name]
    data = load_mulan_dir(mulan_dir / name)
    assert data.labels.shape == (n, c)
    assert data.features.shape == (n, d)
    assert sp.issparse(data.features) == sparse
    assert data.features.dtype == np.float32
    # published to 3 decimals (emotions: 1108 / 593 = 1.86847, published as 1.869)
    assert float(data.labels.sum(axis=1).mean()) == pytest.approx(cardinality, abs=6e-4)
    assert len(set(data.ids)) == n
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
