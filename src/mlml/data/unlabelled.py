"""Samples without labels: what ``mlml predict`` reads.

A model predicts for samples whose labels nobody has; :func:`load_samples` reads their ids and inputs from

* any SOURCE of :mod:`mlml.data.sources` (``mulan:``, ``xc:``, ``coco:``, ...): its labels, if any, are ignored;
* ``csv:IDS.csv,FEATURES``: the ``csv:`` source whose labels file may hold the ``id`` column alone (any class
  columns it has are ignored), joined with features or an image folder exactly as :func:`mlml.data.load_csv`;
* a bare path: a features file that carries its ids (``.npz`` with ``ids`` and ``features``, ``.csv``/``.csv.gz``
  or ``.parquet`` with an ``id`` column), a features file without ids (``.npy``, a single-array or sparse ``.npz``:
  the ids are the 0-based row numbers), or an image folder (ids are the file stems, in sorted order).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml.exceptions import DataError, MLMLError


@dataclass
class Samples:
    """Samples to predict for: ``ids`` and either ``features`` or ``image_paths`` (what
    :func:`mlml.training.evaluate.model_inputs` reads, like a :class:`~mlml.data.Dataset` without labels)."""

    name: str
    ids: np.ndarray
    features: Any = None
    image_paths: list[Path] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def load_samples(source: str | os.PathLike[str]) -> Samples:
    """Read the samples of ``source`` (see the module docstring); labels are neither needed nor read.

    Raises:
        MLMLError: a bad SOURCE; DataError: a file problem (naming the file and line or record).
    """
    from mlml.data.sources import _KINDS, parse_source

    text = str(source).strip()
    kind = text.partition(":")[0].lower()
    if kind == "csv":
        _, args = parse_source(text)
        return _csv_samples(Path(args[0]), Path(args[1]) if len(args) > 1 else None, text)
    if kind in _KINDS:
        from mlml.data import load

        dataset = load(text)
        return Samples(dataset.name, dataset.ids, dataset.features, dataset.image_paths, dict(dataset.provenance))
    path = Path(text)
    if not path.exists():
        raise MLMLError(f"{text!r} is neither a data SOURCE nor an existing features file or image folder.")
    return _bare_samples(path)


def read_ids_csv(path: Path) -> np.ndarray:
    """The first column of a CSV with a header (a labels file, or a file of ids alone), as unique strings."""
    from mlml._validation import first_duplicate
    from mlml.labels import _open_text

    if not path.is_file():
        raise DataError(f"{path}: no such ids or labels file.")
    ids: list[str] = []
    try:
        with _open_text(path, "r") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header or not header[0].strip():
                raise DataError(f"{path}:1: expected a header whose first column names the ids; got {header!r}.")
            for row in reader:
                if row:
                    ids.append(row[0].strip())
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the ids: {exc}") from None
    if not ids:
        raise DataError(f"{path}: the file has a header but no rows.")
    duplicate = first_duplicate(ids)
    if duplicate is not None:
        raise DataError(f"{path}: the id {duplicate!r} occurs more than once.")
    return np.asarray(ids)


def _csv_samples(ids_path: Path, features_path: Path | None, source: str) -> Samples:
    from mlml.data import tabular

    if features_path is None:
        raise MLMLError(f"Predicting for {source!r} needs features or images: 'csv:IDS.csv,FEATURES'.")
    ids = read_ids_csv(ids_path)
    files = [str(ids_path), str(features_path)]
    if features_path.is_dir():
        images, _ = tabular._image_folder(features_path, ids)
        return Samples(ids_path.name.split(".")[0], ids, None, images, {"source": source, "files": files})
    features = _read_features(features_path, ids)
    return Samples(ids_path.name.split(".")[0], ids, features, None, {"source": source, "files": files})


def _read_features(path: Path, ids: np.ndarray) -> Any:
    """Features of ``path`` in the order of ``ids`` (joined by id where the file has ids)."""
    from mlml.data import tabular

    if not path.is_file():
        raise DataError(f"{path}: no such features file or image folder.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return tabular._rows_in_label_order(path, _load_npy(path), len(ids), ids)
    if suffix == ".npz":
        return tabular._read_npz(path, ids)[0]
    file_ids, values = _id_keyed(path)
    return tabular._align(path, ids, file_ids, values)[0]


def _id_keyed(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, features)`` of a ``.parquet`` or ``.csv(.gz)`` features file with an id column."""
    from mlml.data import tabular

    if path.suffix.lower() == ".parquet":
        return tabular._read_parquet(path)
    if "".join(path.suffixes[-2:]).lower().endswith((".csv", ".csv.gz")):
        return tabular._read_features_csv(path)
    raise DataError(f"{path}: unknown features format; expected .npy, .npz, .parquet, .csv(.gz) or an image folder.")


def _bare_samples(path: Path) -> Samples:
    from mlml.data import tabular

    name = path.name.split(".")[0]
    provenance = {"source": str(path), "files": [str(path)]}
    if path.is_dir():
        images = sorted((f for f in path.rglob("*") if f.suffix.lower() in tabular.IMAGE_SUFFIXES and f.is_file()),
                        key=lambda f: f.stem)
        if not images:
            raise DataError(f"{path}: no image files ({', '.join(tabular.IMAGE_SUFFIXES)}).")
        stems = [f.stem for f in images]
        if len(set(stems)) != len(stems):
            duplicate = next(s for i, s in enumerate(stems) if s in stems[:i])
            raise DataError(f"{path}: two images share the id {duplicate!r}.")
        return Samples(name, np.asarray(stems), None, images, provenance)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the .npz file: {exc}") from None
        with archive:
            if "ids" in archive.files and "features" in archive.files:
                ids = np.asarray(archive["ids"]).astype(str)
                features = tabular._rows_in_label_order(path, archive["features"], len(ids), ids)
                return Samples(name, ids, features, None, provenance)
        matrix = _unnamed_npz(path)
        return Samples(name, _row_ids(matrix.shape[0]), matrix, None, provenance)
    if suffix == ".npy":
        array = _load_npy(path)
        n = array.shape[0] if getattr(array, "ndim", 0) >= 1 else 0
        return Samples(name, _row_ids(n), tabular._rows_in_label_order(path, array, n), None, provenance)
    ids, values = _id_keyed(path)
    return Samples(name, ids, values, None, provenance)


def _unnamed_npz(path: Path) -> Any:
    from mlml.data import tabular

    try:
        matrix = sp.load_npz(path)
    except (OSError, ValueError, KeyError):
        with np.load(path, allow_pickle=False) as archive:
            if len(archive.files) != 1:
                raise DataError(f"{path}: expected arrays 'ids' and 'features', a single array, or a scipy sparse "
                                f"matrix; found {', '.join(sorted(archive.files))}.") from None
            matrix = archive[archive.files[0]]
    n = matrix.shape[0] if getattr(matrix, "ndim", 0) >= 1 else 0
    return tabular._rows_in_label_order(path, matrix, n)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the .npy file: {exc}") from None


def _row_ids(n: int) -> np.ndarray:
    return np.arange(n).astype(str)
