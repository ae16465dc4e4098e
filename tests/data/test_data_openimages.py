"""Open Images human-verified labels (mlml.data.openimages) on small files written in the official format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mlml.data import load
from mlml.data.openimages import load_openimages, read_descriptions
from mlml.exceptions import DataError, MLMLError

LABELS = """ImageID,Source,LabelName,Confidence
000002b66c9c498e,verification,/m/014j1m,0
000002b66c9c498e,crowdsource-verification,/m/0199g,1
000002b66c9c498e,verification,/m/01g317,1
000002b97e5471a0,verification,/m/01g317,0
000002b97e5471a0,verification,/m/0jbk,1
000002c707c9895e,verification,/m/014j1m,1
000002c707c9895e,verification,/m/0jbk,0
000002c707c9895e,verification,/m/0jbk,0
"""
# V6+ descriptions carry a header; V4/V5's do not. A display name may hold a comma (quoted).
DESCRIPTIONS = """LabelName,DisplayName
/m/0jbk,Animal
/m/011k07,Tortoise
/m/014j1m,Apple
/m/01g317,Person
/m/0199g,"Bicycle, vehicle"
"""


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    labels = tmp_path / "oidv6-train-annotations-human-imagelabels.csv"
    labels.write_text(LABELS, encoding="utf-8")
    with_header = tmp_path / "oidv6-class-descriptions.csv"
    with_header.write_text(DESCRIPTIONS, encoding="utf-8")
    without = tmp_path / "class-descriptions.csv"
    without.write_text(DESCRIPTIONS.split("\n", 1)[1], encoding="utf-8")
    images = tmp_path / "images"
    images.mkdir()
    return {"labels": labels, "with_header": with_header, "without_header": without, "images": images}


@pytest.mark.parametrize("descriptions", ["with_header", "without_header"])
def test_human_labels_become_partial_annotations(files, descriptions):
    data = load(f"openimages:{files['labels']},{files[descriptions]},{files['images']}")
    assert data.partial and data.n_samples == 3
    assert data.ids.tolist() == ["000002b66c9c498e", "000002b97e5471a0", "000002c707c9895e"]
    # the classes of the labels file, in the descriptions file's order (Tortoise never occurs: no column)
    assert data.label_names == ["Animal", "Apple", "Person", "Bicycle, vehicle"]
    np.testing.assert_array_equal(data.labels, [[-1, 2, 1, 1],
                                                [1, -1, 2, -1],
                                                [2, 1, -1, -1]])
    assert data.image_paths[1] == files["images"] / "000002b97e5471a0.jpg"
    assert data.provenance["label_mids"] == ["/m/0jbk", "/m/014j1m", "/m/01g317", "/m/0199g"]
    assert "7 human-verified labels: 4 present (1), 3 absent (2); 5 entries never annotated" in \
        data.provenance["notes"][0]


def test_without_descriptions_classes_are_mids_and_a_lone_folder_is_the_image_dir(files):
    data = load(f"openimages:{files['labels']},{files['images']}")
    assert data.label_names == ["/m/014j1m", "/m/0199g", "/m/01g317", "/m/0jbk"]  # sorted MIDs
    assert data.image_paths is not None
    labels_only = load(f"openimages:{files['labels']}")
    assert labels_only.image_paths is None and labels_only.features is None
    np.testing.assert_array_equal(labels_only.labels, data.labels)


def test_unannotated_read_as_suspect_zeros_keeps_a_sparse_matrix(files):
    data = load_openimages(files["labels"], files["with_header"], unannotated="negative")
    assert sp.issparse(data.labels) and data.labels.nnz == 7
    np.testing.assert_array_equal(data.labels.toarray(), [[0, 2, 1, 1], [1, 0, 2, 0], [2, 1, 0, 0]])
    with pytest.raises(MLMLError, match="'unannotated' parameter of load_openimages"):
        load_openimages(files["labels"], unannotated="ignore")


def test_read_descriptions_with_and_without_header(files):
    with_header = read_descriptions(files["with_header"])
    assert with_header == read_descriptions(files["without_header"])
    assert list(with_header)[:2] == ["/m/0jbk", "/m/011k07"] and with_header["/m/0199g"] == "Bicycle, vehicle"


def test_a_display_name_shared_by_two_classes_gets_its_mid(tmp_path, files):
    shared = tmp_path / "shared.csv"
    shared.write_text("/m/0jbk,Thing\n/m/014j1m,Thing\n/m/01g317,Person\n/m/0199g,Bike\n", encoding="utf-8")
    data = load_openimages(files["labels"], shared)
    assert data.label_names == ["Thing (/m/0jbk)", "Thing (/m/014j1m)", "Person", "Bike"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("ImageID,Source,Confidence\na,verification,1\n", r"labels\.csv:1: expected the header .* LabelName"),
        ("ImageID,Source,LabelName,Confidence\na,verification,/m/x\n", r"labels\.csv:2: expected 4 fields"),
        ("ImageID,Source,LabelName,Confidence\na,v,/m/x,1\nb,machine,/m/x,0.7\n",
         r"labels\.csv:3: Confidence must be 1 \(verified present\) or 0 .* got '0\.7'"),
        ("ImageID,Source,LabelName,Confidence\n,v,/m/x,1\n", r"labels\.csv:2: empty ImageID"),
        ("ImageID,Source,LabelName,Confidence\na,v,/m/x,1\n\na,v,/m/x,0\n",
         r"labels\.csv:4: image 'a', class '/m/x' is verified absent here and present on line 2"),
        ("ImageID,Source,LabelName,Confidence\n", r"labels\.csv: the labels file has a header but no label"),
    ],
)
def test_bad_label_rows_name_the_file_and_the_line(tmp_path, text, match):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load(f"openimages:{path}")


def test_bad_descriptions_and_missing_classes_name_the_file_and_the_line(tmp_path, files):
    bad = tmp_path / "desc.csv"
    bad.write_text("LabelName,DisplayName\n/m/0jbk,Animal\n/m/014j1m\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"desc\.csv:3: expected 'LabelName,DisplayName'"):
        load(f"openimages:{files['labels']},{bad}")
    bad.write_text("/m/0jbk,Animal\n/m/0jbk,Beast\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"desc\.csv:2: the class '/m/0jbk' is described twice \(first on line 1\)"):
        load(f"openimages:{files['labels']},{bad}")
    bad.write_text("/m/0jbk,Animal\n/m/01g317,Person\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"human-imagelabels\.csv:2: the class '/m/014j1m' is not in"):
        load(f"openimages:{files['labels']},{bad}")
    with pytest.raises(DataError, match="no such Open Images labels file"):
        load(f"openimages:{tmp_path / 'absent.csv'}")
    with pytest.raises(DataError, match="no such image folder"):
        load(f"openimages:{files['labels']},{files['with_header']},{tmp_path / 'nowhere'}")
    with pytest.raises(MLMLError, match="'openimages' takes"):
        load(f"openimages:{files['labels']},a,b,c")


def test_partial_data_set_folds_are_scored_on_the_annotated_entries(files):
    """A partially annotated data set trains and is evaluated: its test labels keep -1 (masked) and 2 (negative)."""
    from mlml.evaluation import UndefinedMetricWarning, evaluate
    from mlml.folds import make_fold

    data = load(f"openimages:{files['labels']},{files['with_header']}")
    fold = make_fold(data, (np.array([0, 1]), np.array([2])), ratio=0.0, seed=0, val_fraction=0.0, inputs=np.eye(3))
    np.testing.assert_array_equal(fold.test_labels, [[2, 1, -1, -1]])
    np.testing.assert_array_equal(fold.observed_train, data.labels[:2])  # nothing hidden at ratio 0
    scores = np.array([[0.9, 0.6, 0.1, 0.2]])
    with pytest.warns(UndefinedMetricWarning):  # one test row: no class has both a positive and a negative
        result = evaluate(fold.test_labels, scores)
    assert result["n_scored"] == 2 and result["per_class_support"] == [0, 1, 0, 0]
    assert result["per_class_fp"] == [1, 0, 0, 0]  # the verified negative counts as a negative


def test_data_info_counts_the_states_of_partial_annotations(files):
    from mlml.data import describe, format_info

    info = describe(load(f"openimages:{files['labels']},{files['with_header']}"))
    assert info["annotations"] == pytest.approx({"positive": 4 / 12, "verified_negative": 3 / 12,
                                                 "unannotated": 5 / 12, "suspect_zero": 0.0})
    assert info["cardinality"] == pytest.approx(4 / 3) and info["distinct_patterns"] == 3
    assert "partial annotations  positive 33.33%, verified negative 25.00%" in format_info(info)
    assert describe(load("yeast"))["annotations"] is None
