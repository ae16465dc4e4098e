"""MS-COCO instances annotations (2014 and 2017 schema) as image-level multi-label data.

The JSON holds ``images`` (``id``, ``file_name``), ``annotations`` (``image_id``, ``category_id``, one per
object instance) and ``categories`` (``id``, ``name``). An image is positive for a category if any instance of
that category is annotated on it (crowd annotations included, as ``pycocotools``' default ``getAnnIds`` does).
Label columns follow COCO's order: categories sorted by id (the 80 ids run from 1 to 90 with gaps). Images
keep the order of the ``images`` list; images without any annotation are kept with no positive (use
``drop_empty`` or ``min_labels`` to remove them). The seed paper's subset is ``min_labels=4`` on train2017
(33,052 images). No pycocotools needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml.data.dataset import Dataset
from mlml.exceptions import DataError


def _field(record: Any, key: str, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise DataError(f"{path}: {where} has no {key!r} field.")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(
            f"{path}: {where} field {key!r} is {value!r}; expected {getattr(kind, '__name__', kind)}."
        )
    return value


def load_coco(
    annotations: str | os.PathLike[str],
    image_dir: str | os.PathLike[str] | None = None,
    *,
    name: str = "coco",
) -> Dataset:
    """Read a COCO instances file as a multi-label :class:`Dataset` of images.

    Args:
        annotations: ``instances_<split>.json``.
        image_dir: folder of the images (``file_name`` is relative to it); None gives ``image_paths=None``
            (labels only).
        name: data set name.

    Returns:
        Dataset with ``(n_images, n_categories)`` labels, ids = COCO image ids as strings, ``image_paths``
        under ``image_dir``.

    Raises:
        DataError: unreadable or invalid JSON (line and column), a missing or mistyped field (naming the
            record, e.g. ``annotations[12]``), an annotation pointing to an unknown image or category,
            duplicate ids, a missing image folder.
    """
    path = Path(annotations)
    if not path.is_file():
        raise DataError(f"{path}: no such COCO annotations file.")
    if image_dir is not None and not Path(image_dir).is_dir():
        raise DataError(f"{image_dir}: no such image folder (the IMAGE_DIR of coco:ANN.json,IMAGE_DIR).")
    try:
        with open(path, encoding="utf-8-sig") as handle:  # a byte-order mark is accepted
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON (column {exc.colno}): {exc.msg}.") from None
    except RecursionError:
        raise DataError(f"{path}: the JSON is nested too deeply to read (thousands of levels).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the annotations file: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with 'images', 'annotations', 'categories'.")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: the top-level {key!r} list is missing (is this an instances file?).")

    categories = []
    for i, record in enumerate(data["categories"]):
        where = f"categories[{i}]"
        categories.append((_field(record, "id", int, where, path), _field(record, "name", str, where, path)))
        if not categories[-1][1].strip():
            raise DataError(f"{path}: {where} has an empty 'name'; every category needs one.")
    if not categories:
        raise DataError(f"{path}: 'categories' is empty.")
    categories.sort()
    category_ids = [c for c, _ in categories]
    if len(set(category_ids)) != len(category_ids):
        raise DataError(f"{path}: a category id occurs more than once in 'categories'.")
    column = {c: j for j, c in enumerate(category_ids)}

    image_ids, file_names = [], []
    for i, record in enumerate(data["images"]):
        where = f"images[{i}]"
        image_ids.append(_field(record, "id", int, where, path))
        file_names.append(_field(record, "file_name", str, where, path))
    if not image_ids:
        raise DataError(f"{path}: 'images' is empty.")
    row = {image_id: r for r, image_id in enumerate(image_ids)}
    if len(row) != len(image_ids):
        raise DataError(f"{path}: an image id occurs more than once in 'images'.")

    rows = np.empty(len(data["annotations"]), dtype=np.int64)
    cols = np.empty(len(data["annotations"]), dtype=np.int64)
    for i, record in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        image_id = _field(record, "image_id", int, where, path)
        category_id = _field(record, "category_id", int, where, path)
        if image_id not in row:
            raise DataError(f"{path}: {where} refers to image_id {image_id}, which is not in 'images'.")
        if category_id not in column:
            raise DataError(
                f"{path}: {where} refers to category_id {category_id}, which is not in 'categories'."
            )
        rows[i] = row[image_id]
        cols[i] = column[category_id]
    matrix = sp.csr_matrix(
        (np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(len(image_ids), len(categories))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1  # several instances of a category on one image: one positive
    labels = matrix.toarray().astype(np.int8)
    image_paths = None if image_dir is None else [Path(image_dir) / f for f in file_names]
    return Dataset(
        name=name,
        labels=labels,
        label_names=[n for _, n in categories],
        ids=np.asarray([str(i) for i in image_ids]),
        image_paths=image_paths,
        provenance={
            "loader": "coco",
            "files": [str(path)] + ([str(image_dir)] if image_dir is not None else []),
            "notes": [
                f"{len(data['annotations']):,} instance annotations; label columns = categories sorted by id",
                f"{int((labels.sum(axis=1) == 0).sum()):,} images have no annotation",
            ],
        },
    )
