"""Generic data: a labels CSV (:func:`mlml.labels.read_labels_csv`) joined with features or an image folder.

``FEATURES`` may be

* ``.npy``: a 2-D array whose rows follow the labels file's rows;
* ``.npz``: either ``ids`` + ``features`` arrays (joined by id), a single 2-D array (rows in label order), or
  a sparse matrix saved by ``scipy.sparse.save_npz`` (rows in label order; kept as CSR);
* ``.parquet``: an ``id`` column and numeric feature columns (needs ``pip install 'mlml[parquet]'``);
* ``.csv`` / ``.csv.gz``: a header starting with ``id``, then numeric feature columns;
* a folder of images: file stem = sample id (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.gif``, ``.webp``,
  ``.tif``, ``.tiff``).

Joined by id: every labelled sample needs features (else an error naming the missing ids); feature rows
without labels are ignored and counted in the provenance. Features must be finite numbers within the
``float32`` range: NaN, inf or 1e39 is an error naming the file and the line (text files) or the 0-based row
(binary arrays, with the id where the file has ids). CSV files may start with a UTF-8 byte-order mark.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlml.data.dataset import Dataset, FeatureMatrix, first_nonfinite
from mlml.exceptions import DataError, MLMLError
from mlml.labels import read_labels_csv

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_FINITE = "features must be finite numbers within the float32 range."


def _check_finite(path: Path, matrix: FeatureMatrix, ids: np.ndarray | None = None) -> None:
    """Raise a DataError naming the 0-based row (and id) of the first NaN, inf or out-of-range value."""
    nonfinite = first_nonfinite(matrix)
    if nonfinite is not None:
        row, column, value = nonfinite
        which = f" (id {str(ids[row])!r})" if ids is not None else ""
        raise DataError(f"{path}: row {row}{which}, column {column} (0-based) holds {value!r}; {_FINITE}")


def _align(
    path: Path, label_ids: np.ndarray, feature_ids: np.ndarray, features: FeatureMatrix
) -> tuple[FeatureMatrix, int]:
    """Rows of ``features`` in the order of ``label_ids``; also the number of unused feature rows."""
    feature_ids = np.asarray(feature_ids).astype(str)
    if len(np.unique(feature_ids)) != len(feature_ids):
        values, counts = np.unique(feature_ids, return_counts=True)
        raise DataError(f"{path}: the id {str(values[counts > 1][0])!r} occurs more than once.")
    position = {sample_id: row for row, sample_id in enumerate(feature_ids)}
    missing = [str(i) for i in label_ids if i not in position]
    if missing:
        raise DataError(
            f"{path}: no features for {len(missing)} of the {len(label_ids)} labelled ids "
            f"(e.g. {', '.join(map(repr, missing[:3]))}); the ids of the labels and features files must "
            "match."
        )
    rows = np.fromiter((position[i] for i in label_ids), dtype=np.int64, count=len(label_ids))
    return features[rows], len(feature_ids) - len(label_ids)


def _read_features_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    opener = (
        (lambda: io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline=""))
        if path.suffix == ".gz"
        else (lambda: open(path, encoding="utf-8-sig", newline=""))
    )
    ids, rows, lines = [], [], []
    try:
        with opener() as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header or header[0].strip().lower() != "id" or len(header) < 2:
                raise DataError(f"{path}:1: expected a header 'id,<feature>,...'; got {header!r}.")
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}.")
                try:
                    rows.append([float(v) for v in row[1:]])
                except ValueError:
                    column = next(j for j, v in enumerate(row[1:]) if not _is_float(v))
                    raise DataError(
                        f"{path}:{line}: column {header[column + 1]!r} holds {row[column + 1]!r}, "
                        "not a number."
                    ) from None
                ids.append(row[0].strip())
                lines.append(line)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the features file: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the features file has no rows.")
    values = np.asarray(rows, dtype=np.float64)
    nonfinite = first_nonfinite(values)
    if nonfinite is not None:
        row, column, value = nonfinite
        raise DataError(
            f"{path}:{lines[row]}: column {header[column + 1]!r} (id {ids[row]!r}) holds {value!r}; "
            f"{_FINITE}"
        )
    return np.asarray(ids), values.astype(np.float32)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_parquet(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MLMLError("Reading .parquet features needs pyarrow: pip install 'mlml[parquet]'.") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"{path}: cannot read the parquet file: {exc}") from None
    if "id" not in table.column_names:
        raise DataError(f"{path}: no 'id' column (columns: {', '.join(table.column_names[:5])}, ...).")
    ids = np.asarray(table.column("id").to_pylist()).astype(str)
    columns = [name for name in table.column_names if name != "id"]
    if not columns:
        raise DataError(f"{path}: no feature column besides 'id'.")
    try:
        values = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in columns])
        values = values.astype(np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: a feature column is not numeric: {exc}") from None
    _check_finite(path, values, ids)
    return ids, values.astype(np.float32)


def _image_folder(folder: Path, label_ids: np.ndarray) -> tuple[list[Path], int]:
    by_stem: dict[str, Path] = {}
    for file in sorted(folder.rglob("*")):
        if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
            if file.stem in by_stem:
                raise DataError(
                    f"{folder}: two images share the id {file.stem!r}: {by_stem[file.stem]}, {file}."
                )
            by_stem[file.stem] = file
    missing = [str(i) for i in label_ids if i not in by_stem]
    if missing:
        raise DataError(
            f"{folder}: no image for {len(missing)} of the {len(label_ids)} labelled ids "
            f"(e.g. {', '.join(map(repr, missing[:3]))}); image file stems must be the ids."
        )
    return [by_stem[i] for i in label_ids], len(by_stem) - len(label_ids)


def load_csv(
    labels_path: str | os.PathLike[str],
    features_path: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
) -> Dataset:
    """Read a labels CSV and, optionally, features or images joined by id (see the module docstring).

    The labels may be partial annotations (``-1`` unannotated, ``2`` verified negative; :mod:`mlml.labels`).

    Raises:
        DataError: malformed files (file and line), label values other than 0/1/-1/2, missing or duplicate ids.
    """
    labels_path = Path(labels_path)
    table = read_labels_csv(labels_path, allow_unknown=True)
    features: FeatureMatrix | None = None
    image_paths = None
    files = [str(labels_path)]
    notes: list[str] = []
    if features_path is not None:
        path = Path(features_path)
        files.append(str(path))
        if path.is_file() and labels_path.is_file() and os.path.samefile(path, labels_path):
            raise DataError(f"{path}: the features file is the labels file; the labels would leak into the "
                            "features. Give a features file (.npy, .npz, .parquet, .csv) or an image folder.")
        suffixes = "".join(path.suffixes[-2:]).lower()
        unused = 0
        if path.is_dir():
            image_paths, unused = _image_folder(path, table.ids)
        elif not path.is_file():
            raise DataError(f"{path}: no such features file or image folder.")
        elif path.suffix.lower() == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: cannot read the .npy file: {exc}") from None
            features = _rows_in_label_order(path, array, len(table.ids), table.ids)
        elif path.suffix.lower() == ".npz":
            features, unused = _read_npz(path, table.ids)
        elif path.suffix.lower() == ".parquet":
            ids, values = _read_parquet(path)
            features, unused = _align(path, table.ids, ids, values)
        elif suffixes.endswith(".csv") or suffixes.endswith(".csv.gz"):
            ids, values = _read_features_csv(path)
            features, unused = _align(path, table.ids, ids, values)
            if features.shape == table.values.shape and np.array_equal(features, table.values):
                raise DataError(f"{path}: the features are the labels of {labels_path} (the same values, column "
                                "for column); the labels would leak into the features.")
        else:
            raise DataError(
                f"{path}: unknown features format; expected .npy, .npz, .parquet, .csv(.gz) or an "
                "image folder."
            )
        if unused:
            notes.append(f"{unused} feature rows/images without labels ignored")
    return Dataset(
        name=name or labels_path.name.split(".")[0],
        labels=table.values,
        label_names=table.names,
        ids=table.ids,
        features=features,
        image_paths=image_paths,
        provenance={"loader": "csv", "files": files, "notes": notes},
    )


def _rows_in_label_order(
    path: Path, array: object, n_samples: int, ids: np.ndarray | None = None
) -> FeatureMatrix:
    matrix = sp.csr_matrix(array) if sp.issparse(array) else np.asarray(array)
    if matrix.ndim != 2:
        raise DataError(f"{path}: features must be 2-D (n_samples, n_features); got shape {matrix.shape}.")
    if matrix.shape[0] != n_samples:
        raise DataError(
            f"{path}: {matrix.shape[0]} feature rows for {n_samples} labelled samples; without ids the rows "
            "must follow the labels file (or save 'ids' and 'features' in an .npz)."
        )
    if not sp.issparse(matrix) and not np.issubdtype(matrix.dtype, np.number):
        raise DataError(f"{path}: features must be numeric; got dtype {matrix.dtype}.")
    _check_finite(path, matrix, ids)
    return matrix


def _read_npz(path: Path, label_ids: np.ndarray) -> tuple[FeatureMatrix, int]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the .npz file: {exc}") from None
    with archive:
        keys = set(archive.files)
        if {"format", "shape", "data", "indices", "indptr"} <= keys:
            return _rows_in_label_order(path, sp.load_npz(path), len(label_ids), label_ids), 0
        if "ids" in keys and "features" in keys:
            ids = archive["ids"]
            return _align(path, label_ids, ids, _rows_in_label_order(path, archive["features"], len(ids), ids))
        if len(keys) == 1:
            return _rows_in_label_order(path, archive[next(iter(keys))], len(label_ids), label_ids), 0
    raise DataError(
        f"{path}: expected arrays 'ids' and 'features', a single array, or a scipy sparse matrix; "
        f"found {', '.join(sorted(keys))}."
    )
