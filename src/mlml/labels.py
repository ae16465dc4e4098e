"""Label matrices (positive, suspect zero, verified negative, unannotated) and the plain labels file.

One encoding everywhere in mlml: an ``int8`` matrix of shape ``(n_samples, n_labels)`` with

* ``1``  (``POSITIVE``) -- positive (observed; a verified positive where annotations are partial),
* ``0``  (``NEGATIVE``) -- the *suspect zero* of the positive-unlabelled regime: assumed negative, but it may
  hide a missing positive whose location nobody knows; only these entries are ever candidates for being
  missing (down-weighted, rejected, corrected or suggested),
* ``2``  (``VERIFIED_NEGATIVE``) -- a negative somebody checked (Open Images' ``Confidence 0``, a label kept by
  the partial-label simulation): always certain, target 0 at full weight,
* ``-1`` (``UNKNOWN``) -- unannotated: a label nobody was asked about (weight 0, unless a method assumes such
  entries negative).

Every comparison keeps one meaning: ``== 1`` positive, ``== 0`` suspect zero, ``!= -1`` known (a verified
negative is known, with target 0). Complete labels (the positive-unlabelled regime, every data set but Open
Images as loaded) hold ``{0, 1}``; partially annotated labels (Open Images, Durand et al.'s simulation) hold
``{1, 2, -1}`` and possibly ``0``. :func:`check_labels` accepts ``2`` wherever it accepts ``-1`` (unless told
otherwise with ``allow_verified``).

Dense ``numpy`` arrays and ``scipy.sparse`` CSR matrices are both accepted; CSR stores the ``1``, ``2`` and ``-1``
entries explicitly (``0`` is the implicit value) and keeps large, very sparse label sets (thousands of tags) in
memory.

The plain labels file is a CSV (optionally gzip-compressed) with an ``id`` column, then one column per class
holding ``0``/``1`` (and ``-1`` where unknown, ``2`` where verified negative)::

    id,person,bicycle,car
    8,0,0,1
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import scipy.sparse as sp

from mlml._io import atomic_open
from mlml._validation import check_memory, first_duplicate
from mlml.exceptions import DataError, MLMLError

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1
#: A negative somebody checked: certain, never a candidate for a missing positive (see the module docstring).
VERIFIED_NEGATIVE = 2

LabelMatrix = np.ndarray | sp.csr_matrix


def check_labels(
    labels: object,
    *,
    name: str = "labels",
    allow_unknown: bool = True,
    allow_sparse: bool = True,
    n_labels: int | None = None,
    allow_verified: bool | None = None,
) -> LabelMatrix:
    """Validate a label matrix and return it as ``int8`` (dense) or ``int8`` CSR.

    Args:
        labels: array-like or scipy.sparse matrix of shape ``(n_samples, n_labels)`` with values in
            ``{0, 1}`` (and ``-1`` when ``allow_unknown``, ``2`` when ``allow_verified``). Booleans and integer
            or integral float arrays are converted.
        name: how the matrix is called in error messages.
        allow_unknown: whether ``-1`` (unannotated) entries are accepted.
        allow_sparse: whether a sparse matrix is returned as CSR (else it is densified).
        n_labels: the expected number of columns, if known.
        allow_verified: whether ``2`` (verified negative) entries are accepted; None (default): where ``-1``
            is, i.e. a matrix that may be partially annotated may hold both states of partial annotation.

    Raises:
        MLMLError: wrong number of dimensions, an empty matrix, values outside the encoding, a shape mismatch.
    """
    if allow_verified is None:
        allow_verified = allow_unknown
    allowed = (-1, 0, 1) if allow_unknown else (0, 1)
    if allow_verified:
        allowed = (*allowed, VERIFIED_NEGATIVE)
    if sp.issparse(labels):
        matrix = sp.csr_matrix(labels)
        if not allow_sparse:
            return check_labels(matrix.toarray(), name=name, allow_unknown=allow_unknown, n_labels=n_labels,
                                allow_verified=allow_verified)
        values = matrix.data
        shape = matrix.shape
    else:
        try:
            values = np.asarray(labels)
        except (TypeError, ValueError) as exc:
            raise MLMLError(f"{name} must be a 2-D array of labels: {exc}") from None
        if values.ndim != 2:
            raise MLMLError(f"{name} must be 2-D (n_samples, n_labels). Got an array of shape {values.shape}.")
        shape = values.shape
    if shape[0] == 0 or shape[1] == 0:
        raise MLMLError(f"{name} is empty: shape {shape}; it needs at least one sample and one label.")
    if n_labels is not None and shape[1] != n_labels:
        raise MLMLError(f"{name} has {shape[1]} label columns; expected {n_labels}.")
    if values.dtype == bool:
        converted = values.astype(np.int8)
    elif np.issubdtype(values.dtype, np.number):
        converted = values.astype(np.int8)
        if not np.array_equal(converted, values):
            bad = values.flat[np.flatnonzero(converted.ravel() != values.ravel())[0]]
            raise MLMLError(f"{name} must hold the integers {allowed}. Found the value {bad}.")
    else:
        raise MLMLError(f"{name} must be numeric or boolean. Got dtype {values.dtype}.")
    bad_mask = ~np.isin(converted, allowed)
    if bad_mask.any():
        bad = converted.ravel()[np.flatnonzero(bad_mask.ravel())[0]]
        hint = {UNKNOWN: " (-1 = unknown is not allowed here)",
                VERIFIED_NEGATIVE: " (2 = verified negative is not allowed here)"}.get(int(bad), "")
        raise MLMLError(f"{name} must hold only the values {allowed}{hint}. Found the value {int(bad)}.")
    if sp.issparse(labels):
        out = sp.csr_matrix((converted, matrix.indices, matrix.indptr), shape=shape)
        out.eliminate_zeros()
        return out
    return np.ascontiguousarray(converted)


def to_dense(labels: LabelMatrix) -> np.ndarray:
    """A dense array of ``labels``: CSR is densified to ``int8``; dense input is returned as it is (no copy).

    Raises:
        MLMLError: the dense matrix would not fit in this machine's memory (the message says how much it needs).
    """
    if not sp.issparse(labels):
        return np.asarray(labels)
    n_samples, n_labels = labels.shape
    check_memory(n_samples * n_labels, f"A dense ({n_samples:,} x {n_labels:,}) label matrix")
    return labels.toarray().astype(np.int8, copy=False)


def positive_mask(labels: LabelMatrix) -> np.ndarray:
    """Boolean ``(n_samples, n_labels)`` mask of the positive entries."""
    return to_dense(labels) == POSITIVE


def known_mask(labels: LabelMatrix) -> np.ndarray:
    """Boolean ``(n_samples, n_labels)`` mask of the known (not ``-1``) entries (verified negatives are known)."""
    return to_dense(labels) != UNKNOWN


def suspect_mask(labels: LabelMatrix) -> np.ndarray:
    """Boolean ``(n_samples, n_labels)`` mask of the suspect zeros (``0``): the only entries that may hide a missing
    positive (verified negatives ``2`` and unannotated entries ``-1`` are not)."""
    return to_dense(labels) == NEGATIVE


def is_partial(labels: LabelMatrix) -> bool:
    """Whether ``labels`` holds partial annotations: any unannotated (``-1``) or verified-negative (``2``) entry."""
    values = labels.data if sp.issparse(labels) else np.asarray(labels)
    return bool(np.any((values == UNKNOWN) | (values == VERIFIED_NEGATIVE)))


def unannotated_as_negative(labels: LabelMatrix) -> LabelMatrix:
    """``labels`` with every unannotated entry (``-1``) made a suspect zero (``0``): the "assume negative" reading
    of partial annotations (verified negatives stay ``2``). Same type as the input, ``int8``; a copy.

    Example:
        >>> unannotated_as_negative(np.array([[1, -1, 2]], dtype=np.int8)).tolist()
        [[1, 0, 2]]
    """
    if sp.issparse(labels):
        out = sp.csr_matrix(labels, dtype=np.int8, copy=True)
        out.data[out.data == UNKNOWN] = NEGATIVE
        out.eliminate_zeros()
        return out
    out = np.array(labels, dtype=np.int8, copy=True)
    out[out == UNKNOWN] = NEGATIVE
    return out


def label_counts(labels: LabelMatrix) -> np.ndarray:
    """Number of positives per label, shape ``(n_labels,)``."""
    if sp.issparse(labels):
        return np.asarray((labels == POSITIVE).sum(axis=0)).ravel().astype(np.int64)
    return (np.asarray(labels) == POSITIVE).sum(axis=0)


def positives_per_sample(labels: LabelMatrix) -> np.ndarray:
    """Number of positives per sample, shape ``(n_samples,)``."""
    if sp.issparse(labels):
        return np.asarray((labels == POSITIVE).sum(axis=1)).ravel().astype(np.int64)
    return (np.asarray(labels) == POSITIVE).sum(axis=1)


@dataclass
class LabelTable:
    """A labels file in memory: sample ids, class names and the ``(n_samples, n_labels)`` values."""

    ids: np.ndarray
    names: list[str]
    values: np.ndarray

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        if len(self.ids) != self.values.shape[0]:
            raise MLMLError(f"{len(self.ids)} ids for {self.values.shape[0]} rows of values.")
        if len(self.names) != self.values.shape[1]:
            raise MLMLError(f"{len(self.names)} class names for {self.values.shape[1]} columns of values.")


def _open_text(path: Path, mode: str) -> IO[str]:
    # Reading accepts (and drops) a UTF-8 byte-order mark, as spreadsheet programs write; writing adds none.
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding=encoding, newline="")
    return open(path, mode, encoding=encoding, newline="")


def read_labels_csv(path: str | os.PathLike[str], *, allow_unknown: bool = True) -> LabelTable:
    """Read a labels file (``id`` column then one 0/1/-1/2 column per class; ``.gz`` and a UTF-8 BOM accepted;
    ``-1`` and ``2`` only with ``allow_unknown``).

    Raises:
        DataError: naming the file and the line for a missing header, a wrong number of fields, a duplicate
            id or a value outside the encoding.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such labels file.")
    allowed = {"1": 1, "0": 0, "-1": -1, "2": VERIFIED_NEGATIVE} if allow_unknown else {"1": 1, "0": 0}
    try:
        with _open_text(path, "r") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header or header[0].strip().lower() != "id":
                raise DataError(f"{path}:1: expected a header starting with 'id', got {header!r}.")
            names = [name.strip() for name in header[1:]]
            if not names:
                raise DataError(f"{path}:1: the header names no class column.")
            if "" in names:
                raise DataError(f"{path}:1: class column {names.index('') + 2} of the header has no name.")
            duplicate = first_duplicate(names)
            if duplicate is not None:
                raise DataError(f"{path}:1: the class {duplicate!r} is named twice in the header.")
            ids: list[str] = []
            rows: list[list[int]] = []
            width = len(header)
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(f"{path}:{line_no}: expected {width} fields, got {len(row)}.")
                try:
                    rows.append([allowed[value.strip()] for value in row[1:]])
                except KeyError:
                    bad = next(v for v in row[1:] if v.strip() not in allowed)
                    column = names[row[1:].index(bad)]
                    raise DataError(
                        f"{path}:{line_no}: column {column!r} holds {bad!r}; expected one of "
                        f"{', '.join(sorted(allowed))}."
                    ) from None
                ids.append(row[0].strip())
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the labels file: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the labels file has a header but no rows.")
    duplicate = first_duplicate(ids)
    if duplicate is not None:
        raise DataError(f"{path}: the id {duplicate!r} occurs more than once.")
    return LabelTable(np.asarray(ids), names, np.asarray(rows, dtype=np.int8))


def write_matrix_csv(
    path: str | os.PathLike[str],
    ids: Sequence[str] | np.ndarray,
    names: Sequence[str],
    values: np.ndarray | sp.spmatrix,
    *,
    float_format: str = "%.6g",
) -> Path:
    """Write ``values`` as a labels-format CSV (integers as such, floats with ``float_format``), atomically."""
    path = Path(path)
    values = values.toarray() if sp.issparse(values) else np.asarray(values)
    if values.shape != (len(ids), len(names)):
        raise MLMLError(f"values of shape {values.shape} do not match {len(ids)} ids x {len(names)} names.")
    _check_names(path, names)
    fmt = "%d" if np.issubdtype(values.dtype, np.integer) else float_format
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", *names])
        for sample_id, row in zip(ids, values):
            writer.writerow([sample_id, *(fmt % v for v in row)])
    return path


def _check_names(path: Path, names: Sequence[str]) -> None:
    """Refuse to write a header that :func:`read_labels_csv` would refuse to read back."""
    empty = next((i for i, name in enumerate(names) if not str(name).strip()), None)
    if empty is not None:
        raise MLMLError(f"{path}: class {empty} has an empty name; a labels file needs a name for every class.")
    duplicate = first_duplicate([str(name).strip() for name in names])
    if duplicate is not None:
        raise MLMLError(f"{path}: the class name {duplicate!r} occurs twice; a labels file needs distinct names.")


def write_labels_csv(path: str | os.PathLike[str], table: LabelTable) -> Path:
    """Write a :class:`LabelTable` in the plain labels format."""
    return write_matrix_csv(path, table.ids, table.names, table.values)
