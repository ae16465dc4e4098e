"""COCO instances JSON and NUS-WIDE official layout, on fixtures written here in the exact schemas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlml.data import load
from mlml.data.coco import load_coco
from mlml.data.nuswide import load_nuswide
from mlml.exceptions import DataError, MLMLError

# ---- COCO --------------------------------------------------------------------------------------------------


def _coco(tmp_path: Path) -> dict:
    """COCO 2017 schema: info/licenses, images, annotations (instances, with bbox etc.), categories."""
    return {
        "info": {"year": 2017, "version": "1.0", "description": "fixture"},
        "licenses": [{"id": 1, "name": "x", "url": ""}],
        "images": [
            {"id": 139, "file_name": "000000000139.jpg", "height": 426, "width": 640, "license": 1},
            {"id": 285, "file_name": "000000000285.jpg", "height": 640, "width": 586, "license": 1},
            {"id": 632, "file_name": "000000000632.jpg", "height": 483, "width": 640, "license": 1},
            {"id": 724, "file_name": "000000000724.jpg", "height": 500, "width": 375, "license": 1},
        ],
        # categories listed out of id order; ids with a gap as in COCO (1..90)
        "categories": [
            {"supercategory": "vehicle", "id": 3, "name": "car"},
            {"supercategory": "person", "id": 1, "name": "person"},
            {"supercategory": "animal", "id": 23, "name": "bear"},
            {"supercategory": "vehicle", "id": 2, "name": "bicycle"},
        ],
        "annotations": [
            {"id": 1, "image_id": 139, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 1]]},
            {"id": 2, "image_id": 139, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 1]]},
            {"id": 3, "image_id": 139, "category_id": 3, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 1,
             "segmentation": {"counts": [1], "size": [1, 1]}},
            {"id": 4, "image_id": 285, "category_id": 23, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 1]]},
            {"id": 5, "image_id": 632, "category_id": 2, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 1]]},
            {"id": 6, "image_id": 632, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 1]]},
            {"id": 7, "image_id": 632, "category_id": 3, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 1]]},
        ],
    }  # fmt: skip


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def test_coco_labels_order_and_paths(tmp_path: Path) -> None:
    ann = _write_json(tmp_path / "instances_val2017.json", _coco(tmp_path))
    (tmp_path / "val2017").mkdir()
    data = load(f"coco:{ann},{tmp_path / 'val2017'}")
    assert data.label_names == ["person", "bicycle", "car", "bear"]  # sorted by category id
    assert data.ids.tolist() == ["139", "285", "632", "724"]
    np.testing.assert_array_equal(data.labels, [[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0]])
    assert data.image_paths[2] == tmp_path / "val2017" / "000000000632.jpg"
    assert load(f"coco:{ann}").image_paths is None


def test_coco_min_labels_like_the_paper(tmp_path: Path) -> None:
    ann = _write_json(tmp_path / "a.json", _coco(tmp_path))
    data = load(f"coco:{ann}", min_labels=2)
    assert data.ids.tolist() == ["139", "632"]
    assert data.provenance["filters"] == [{"filter": "min_labels", "value": 2, "removed_samples": 2}]
    assert load(f"coco:{ann}", drop_empty=True).n_samples == 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["annotations"].__setitem__(4, {"id": 5, "image_id": 999, "category_id": 2}),
            r"annotations\[4\] refers to image_id 999",
        ),
        (
            lambda d: d["annotations"][5].__setitem__("category_id", 77),
            r"annotations\[5\] refers to category_id 77",
        ),
        (lambda d: d["annotations"][0].pop("image_id"), r"annotations\[0\] has no 'image_id' field"),
        (lambda d: d["images"][1].__setitem__("file_name", 3), r"images\[1\] field 'file_name' is 3"),
        (lambda d: d.pop("categories"), "'categories' list is missing"),
        (lambda d: d["images"].append(dict(d["images"][0])), "image id occurs more than once"),
    ],
)
def test_coco_bad_records_are_named(tmp_path: Path, mutate, message: str) -> None:  # noqa: ANN001
    data = _coco(tmp_path)
    mutate(data)
    ann = _write_json(tmp_path / "bad.json", data)
    with pytest.raises(DataError, match=message):
        load_coco(ann)


def test_coco_malformed_json_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(_coco(tmp_path), indent=1).splitlines()
    text[5] = text[5] + ",,"
    ann = tmp_path / "broken.json"
    ann.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.json:6: invalid JSON"):
        load_coco(ann)
    with pytest.raises(DataError, match="no such image folder"):
        load_coco(_write_json(tmp_path / "ok.json", _coco(tmp_path)), tmp_path / "nope")


# ---- NUS-WIDE ----------------------------------------------------------------------------------------------

CONCEPTS = ["animal", "beach", "sky"]
IMAGES = ["actor\\0001_2124494179.jpg", "airport\\0002_174174086.jpg", "beach\\0003_1234.jpg",
          "sky\\0004_555.jpg", "sky\\0005_777.jpg"]  # fmt: skip
ALL = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0]])
TAGS = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 0], [1, 1, 1]])
TRAIN = [0, 2, 3]
TEST = [1, 4]


@pytest.fixture()
def nus_root(tmp_path: Path) -> Path:
    root = tmp_path / "NUS-WIDE"
    for folder in ("ImageList", "ConceptsList", "Groundtruth/AllLabels", "Groundtruth/TrainTestLabels",
                   "NUS_WID_Tags"):  # fmt: skip
        (root / folder).mkdir(parents=True)
    (root / "ConceptsList" / "Concepts81.txt").write_text("\n".join(CONCEPTS) + "\n")
    (root / "ImageList" / "Imagelist.txt").write_text(
        "".join(f"C:\\ImageData\\Flickr\\{name}\r\n" for name in IMAGES)
    )
    (root / "ImageList" / "TrainImagelist.txt").write_text("".join(f"{IMAGES[i]}\n" for i in TRAIN))
    (root / "ImageList" / "TestImagelist.txt").write_text("".join(f"{IMAGES[i]}\n" for i in TEST))
    for j, concept in enumerate(CONCEPTS):
        (root / "Groundtruth" / "AllLabels" / f"Labels_{concept}.txt").write_text(
            "".join(f"{v}\n" for v in ALL[:, j])
        )
        for part, rows in (("Train", TRAIN), ("Test", TEST)):
            (root / "Groundtruth" / "TrainTestLabels" / f"Labels_{concept}_{part}.txt").write_text(
                "".join(f"{v}\n" for v in ALL[rows, j])
            )
    (root / "NUS_WID_Tags" / "AllTags81.txt").write_text("".join(" ".join(map(str, r)) + " \n" for r in TAGS))
    return root


def test_nuswide_all_labels(nus_root: Path) -> None:
    data = load(f"nuswide:{nus_root}")
    assert data.label_names == CONCEPTS
    np.testing.assert_array_equal(data.labels, ALL)
    assert data.ids.tolist() == ["0001_2124494179", "0002_174174086", "0003_1234", "0004_555", "0005_777"]
    assert data.image_paths is None  # no Flickr folder in the fixture
    (nus_root / "Flickr").mkdir()
    with_images = load_nuswide(nus_root)
    assert with_images.image_paths[1] == nus_root / "Flickr" / "airport" / "0002_174174086.jpg"


def test_nuswide_train_test_and_tags(nus_root: Path) -> None:
    split = load_nuswide(nus_root, ground_truth="train-test")
    np.testing.assert_array_equal(split.labels, ALL[TRAIN + TEST])
    assert split.provenance["n_train"] == 3
    tags = load(f"nuswide:{nus_root}", ground_truth="tags")
    np.testing.assert_array_equal(tags.labels, TAGS)


def test_nuswide_paper_filter(nus_root: Path) -> None:
    data = load(f"nuswide:{nus_root}", min_labels=2)
    assert data.ids.tolist() == ["0001_2124494179", "0002_174174086", "0005_777"]
    assert data.provenance["filters"][0]["removed_samples"] == 2


def test_nuswide_bad_files(nus_root: Path) -> None:
    label_file = nus_root / "Groundtruth" / "AllLabels" / "Labels_beach.txt"
    label_file.write_text("1\n0\n2\n0\n0\n")
    with pytest.raises(DataError, match=r"Labels_beach\.txt:3: label value '2'"):
        load_nuswide(nus_root)
    label_file.write_text("1\n0\n")
    with pytest.raises(DataError, match=r"Labels_beach\.txt: 2 rows; expected 5"):
        load_nuswide(nus_root)
    label_file.unlink()
    with pytest.raises(DataError, match="Labels_beach.txt: no such file"):
        load_nuswide(nus_root)
    tags = nus_root / "NUS_WID_Tags" / "AllTags81.txt"
    tags.write_text("1 0 1\n0 1\n")
    with pytest.raises(DataError, match=r"AllTags81\.txt:2: expected 3 value"):
        load_nuswide(nus_root, ground_truth="tags")
    with pytest.raises(MLMLError, match="'ground_truth' parameter of load_nuswide"):
        load_nuswide(nus_root, ground_truth="manual")
    with pytest.raises(DataError, match="Concepts81"):
        load_nuswide(nus_root / "ImageList")


def test_coco_json_and_nuswide_lists_with_a_byte_order_mark(tmp_path: Path, nus_root: Path) -> None:
    ann = tmp_path / "bom.json"
    ann.write_bytes(b"\xef\xbb\xbf" + json.dumps(_coco(tmp_path)).encode())
    assert load(f"coco:{ann}").ids.tolist() == ["139", "285", "632", "724"]
    concepts = nus_root / "ConceptsList" / "Concepts81.txt"
    concepts.write_bytes(b"\xef\xbb\xbf" + concepts.read_bytes())
    assert load(f"nuswide:{nus_root}").label_names == CONCEPTS
