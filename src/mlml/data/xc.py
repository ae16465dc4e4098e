"""The Extreme Classification Repository's text format (``xc:FILE[,TEST_FILE]``).

Manik Varma's XC repository distributes its data sets (Bibtex, Delicious, EURLex-4K, AmazonCat-13K, ...) as one
text file per split::

    n_samples n_features n_labels          <- header, three integers
    l1,l2,... f:v f:v ...                 <- one sample a line: its labels (0-based, comma-separated), then its
     f:v f:v                                 features as index:value pairs (0-based); no label: the line starts
    l1                                       with the features (or a blank); no feature: labels alone

The labels become an ``int8`` CSR matrix (1 = positive), the features a ``float32`` CSR matrix: nothing of size
``n_samples x n_labels`` is ever made. Given two files (train and test), their rows are concatenated, train
first, as MULAN's train/test files are; ``provenance["parts"]`` says which rows came from which file. Sample ids
are ``<file stem>:<row>``, label names the label indices (``"0"``, ``"1"``, ...).

Partial labels (``2`` verified negative, ``-1`` unannotated; :mod:`mlml.labels`) have no place in the format,
whose lines list positives only. :func:`write_xc` keeps them in two companion files beside ``FILE.txt``, each in
the same format with no features: ``FILE.verified-negatives.txt`` lists each sample's verified negatives and
``FILE.unannotated.txt`` its unannotated entries. ``FILE.txt`` itself stays a plain XC file (any XC reader sees
the positives); :func:`read_xc_file` finds the companions and puts the ``2`` and ``-1`` entries back. A companion
must agree with its file's header (samples, labels) and may not list an entry another file lists.

The header sets the width of the matrices, not their memory: the CSR matrices hold the entries present. A header
may declare labels (or features) no sample of the file uses (a train file without the test file's rarest labels),
but a header declaring more than ``MAX_UNUSED_COLUMNS`` columns beyond the largest id present *and* more than
twice that id is taken for a damaged header (a 1.5 KB file claiming 3 x 10^8 labels) and refused in one line, as
per-label bookkeeping (names, counts) grows with the declared width.

Reading is vectorised: every line is cut into its label part and its feature part, and each part is parsed as
one block of numbers; only a file that fails that fast path is read again line by line, to name the first bad
line in a one-line :class:`~mlml.exceptions.DataError` (``FILE:LINE: ...``): a bad header, a label id out of range,
a bad ``f:v`` token, a feature index out of range, a repeated label or feature, a wrong number of samples.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlml.data.dataset import Dataset
from mlml.exceptions import DataError

MAX_UNUSED_COLUMNS = 1_000_000
"""Declared columns (labels or features) beyond the largest id present that a header may add: see the module
docstring."""

COMPANIONS = {2: "verified-negatives", -1: "unannotated"}
"""The label state kept in each companion file, by the file name's infix (``FILE.<infix>.txt``)."""


def companion_path(path: str | os.PathLike[str], state: int) -> Path:
    """The companion file of ``path`` holding the entries of ``state`` (2 or -1), e.g. ``observed.unannotated.txt``
    for ``observed.txt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{COMPANIONS[state]}{path.suffix}")


@dataclass
class XCPart:
    """One parsed file: CSR labels ``(n, n_labels)`` int8 and CSR features ``(n, n_features)`` float32."""

    path: Path
    labels: sp.csr_matrix
    features: sp.csr_matrix


def _header(path: Path, line: str) -> tuple[int, int, int]:
    fields = line.split()
    try:
        values = [int(v) if v.isdigit() else -1 for v in fields]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0 or values[2] < 1:
        raise DataError(f"{path}:1: expected the header 'n_samples n_features n_labels' (three integers, at least "
                        f"one label), got {line.strip()[:80]!r}.")
    return values[0], values[1], values[2]


def _split_line(line: str) -> tuple[str, str]:
    """``(labels, features)`` text of one sample line."""
    stripped = line.strip()
    head, _, rest = stripped.partition(" ")
    if ":" in head or not head:  # no label: the line starts with its features
        return "", stripped
    return head, rest


def _numbers(text: str) -> np.ndarray:
    """Whitespace-separated numbers at C speed; it stops early at anything it cannot read, which the caller sees
    as a count that falls short."""
    if not text.strip():
        return np.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "could not be read to its end": counted instead
        try:
            return np.fromstring(text, dtype=np.float64, sep=" ")
        except ValueError:
            return np.empty(0)


def read_xc_file(path: str | os.PathLike[str], *, companions: bool = True) -> XCPart:
    """Read one file of the XC repository's format (see the module docstring), with its companion files of
    verified negatives and unannotated entries when they exist (``companions=False``: the positives alone).

    Raises:
        DataError: a missing or unreadable file, or a malformed one, naming the file and the line.
    """
    part = _read_one(Path(path))
    if companions:
        part.labels = _with_companions(part)
    return part


def companion_files(path: str | os.PathLike[str]) -> list[Path]:
    """The companion files of ``path`` that exist (see the module docstring)."""
    return [companion_path(path, state) for state in COMPANIONS if companion_path(path, state).is_file()]


def _with_companions(part: XCPart) -> sp.csr_matrix:
    """``part.labels`` with the entries of its companion files set to their states (2, -1)."""
    labels = part.labels
    for state in COMPANIONS:
        other = companion_path(part.path, state)
        if not other.is_file():
            continue
        extra = _read_one(other)
        if extra.labels.shape != labels.shape:
            raise DataError(f"{other}:1: its header gives {extra.labels.shape[0]:,} samples and "
                            f"{extra.labels.shape[1]:,} labels; {part.path} gives {labels.shape[0]:,} and "
                            f"{labels.shape[1]:,}: a companion file must match its XC file.")
        if extra.features.nnz:
            raise DataError(f"{other}: a companion file lists label ids only; it holds features.")
        clash = labels.multiply(extra.labels)
        clash.eliminate_zeros()
        if clash.nnz:
            row, column = (int(v[0]) for v in clash.nonzero())
            raise DataError(f"{other}:{row + 2}: label {column} of this sample is already listed as "
                            f"{_STATE_NAMES[int(labels[row, column])]}; an entry has one state.")
        labels = (labels + extra.labels * np.int8(state)).astype(np.int8).tocsr()
    labels.sort_indices()
    return labels


_STATE_NAMES = {1: "a positive", 2: "a verified negative", -1: "unannotated"}


def _read_one(path: Path) -> XCPart:
    if not path.is_file():
        raise DataError(f"{path}: no such XC data file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the XC data file: {exc}") from None
    lines = text.splitlines()
    del text
    if not lines:
        raise DataError(f"{path}:1: the file is empty; expected the header 'n_samples n_features n_labels'.")
    n_samples, n_features, n_labels = _header(path, lines[0])
    body = lines[1:]
    while len(body) > n_samples and not body[-1].strip():  # blank lines beyond the samples (an editor's extra line)
        body.pop()
    if len(body) != n_samples:
        raise DataError(f"{path}:1: the header announces {n_samples:,} samples; the file holds {len(body):,} "
                        "sample lines.")
    heads, rests = zip(*map(_split_line, body)) if body else ((), ())
    del lines, body
    n_label_entries = np.fromiter((h.count(",") + 1 if h else 0 for h in heads), dtype=np.int64, count=n_samples)
    n_feature_entries = np.fromiter((r.count(":") for r in rests), dtype=np.int64, count=n_samples)
    labels = _numbers(" ".join(heads).replace(",", " "))
    pairs = _numbers(" ".join(rests).replace(":", " "))
    if labels.size != n_label_entries.sum() or pairs.size != 2 * n_feature_entries.sum():
        _find_bad_line(path, heads, rests, n_features, n_labels)  # raises, naming the line
        raise DataError(f"{path}: cannot parse the sample lines (a stray character?).")  # pragma: no cover
    label_ptr = np.concatenate([[0], np.cumsum(n_label_entries)])
    feature_ptr = np.concatenate([[0], np.cumsum(n_feature_entries)])
    label_ids, feature_ids, values = labels, pairs[0::2], pairs[1::2]
    _check_ids(path, label_ids, label_ptr, n_labels, "label id", "n_labels")
    _check_ids(path, feature_ids, feature_ptr, n_features, "feature index", "n_features")
    _check_width(path, label_ids, n_labels, "labels")
    _check_width(path, feature_ids, n_features, "features")
    bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > np.finfo(np.float32).max))
    if bad.size:
        line = _line_of(feature_ptr, bad[0])
        raise DataError(f"{path}:{line}: the feature value {float(values[bad[0]])!r} is not a finite float32.")
    label_matrix = _csr(path, label_ids, label_ptr, np.ones(label_ids.size, dtype=np.int8), n_labels, "label")
    feature_matrix = _csr(path, feature_ids, feature_ptr, values.astype(np.float32), n_features, "feature")
    return XCPart(path=path, labels=label_matrix, features=feature_matrix)


def _check_width(path: Path, ids: np.ndarray, declared: int, what: str) -> None:
    """Refuse a header whose declared width no data of the file comes near (see the module docstring)."""
    used = int(ids.max()) + 1 if ids.size else 0
    if declared > used + MAX_UNUSED_COLUMNS and declared > 2 * used:
        raise DataError(f"{path}:1: the header declares {declared:,} {what} but the largest {what[:-1]} id in the "
                        f"file is {used - 1:,}; a damaged header? Set n_{what} to the real count (at most "
                        f"{used + MAX_UNUSED_COLUMNS:,} here).")


def _line_of(ptr: np.ndarray, entry: int) -> int:
    """The file line (1-based, the header is line 1) of the sample holding ``entry``."""
    return int(np.searchsorted(ptr, entry, side="right")) - 1 + 2


def _check_ids(path: Path, ids: np.ndarray, ptr: np.ndarray, limit: int, what: str, header: str) -> None:
    bad = np.flatnonzero(~(ids == np.floor(ids)) | (ids < 0) | (ids >= limit))
    if bad.size:
        value, line = float(ids[bad[0]]), _line_of(ptr, bad[0])
        if not (math.isfinite(value) and value == math.floor(value)):
            raise DataError(f"{path}:{line}: {what} {value!r} is not an integer.")
        raise DataError(f"{path}:{line}: {what} {int(value)} is out of range: the header's {header} is {limit} "
                        f"({what}s are 0-based integers below it).")


def _csr(path: Path, ids: np.ndarray, ptr: np.ndarray, data: np.ndarray, width: int, what: str) -> sp.csr_matrix:
    indices = ids.astype(np.int32 if width < 2**31 else np.int64)
    matrix = sp.csr_matrix((data, indices, ptr), shape=(len(ptr) - 1, width))
    if not matrix.has_sorted_indices:
        matrix.sort_indices()
    if matrix.nnz:  # a repeated column within a row shows as two equal neighbours once sorted
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        same = (matrix.indices[1:] == matrix.indices[:-1]) & (rows[1:] == rows[:-1])
        if same.any():
            first = int(np.argmax(same))
            raise DataError(f"{path}:{int(rows[first]) + 2}: the {what} {int(matrix.indices[first])} is listed twice.")
    return matrix


def _find_bad_line(path: Path, heads: tuple[str, ...], rests: tuple[str, ...], n_features: int, n_labels: int) -> None:
    """Read the sample lines one by one and raise on the first malformed token."""
    for row, (head, rest) in enumerate(zip(heads, rests)):
        line = row + 2
        for token in head.split(",") if head else ():
            try:
                if "_" in token:  # Python's int() reads 1_000; the fast path (C's strtod) does not
                    raise ValueError
                value = int(token)
            except ValueError:
                raise DataError(f"{path}:{line}: bad label id {token!r}; expected comma-separated 0-based "
                                "integers before the features.") from None
            if not 0 <= value < n_labels:
                raise DataError(f"{path}:{line}: label id {value} is out of range: the header's n_labels is "
                                f"{n_labels}.")
        for token in rest.split():
            index, sep, value = token.partition(":")
            try:
                if not sep or ":" in value or "_" in token:
                    raise ValueError
                int(index)
                float(value)
            except ValueError:
                raise DataError(f"{path}:{line}: bad feature token {token!r}; expected INDEX:VALUE.") from None
        n_labels_here = head.count(",") + 1 if head else 0
        if (_numbers(head.replace(",", " ")).size != n_labels_here
                or _numbers(rest.replace(":", " ")).size != 2 * rest.count(":")):
            raise DataError(f"{path}:{line}: cannot read the sample line (a stray character?).")


def load_xc(path: str | os.PathLike[str], test_path: str | os.PathLike[str] | None = None, *,
            name: str | None = None) -> Dataset:
    """Load an XC-format data set: one file, or a train file and a test file whose rows follow it.

    Args:
        path: the (training) file.
        test_path: an optional second file of the same data set (same header widths), appended after ``path``.
        name: the data set's name (default: the first file's stem without a ``_train``/``-train`` suffix).

    Raises:
        DataError: a malformed file (naming it and the line), or two files whose feature or label counts differ.
    """
    files = [Path(path)] + ([Path(test_path)] if test_path is not None else [])
    parts = [read_xc_file(f) for f in files]
    first = parts[0]
    for part in parts[1:]:
        if part.labels.shape[1] != first.labels.shape[1] or part.features.shape[1] != first.features.shape[1]:
            raise DataError(f"{part.path}:1: its header gives {part.features.shape[1]} features and "
                            f"{part.labels.shape[1]} labels; {first.path} gives {first.features.shape[1]} and "
                            f"{first.labels.shape[1]}: the files of one data set must agree.")
    sizes = [p.labels.shape[0] for p in parts]
    starts = np.cumsum([0, *sizes[:-1]]).tolist()
    roles = ["train", "test"] if len(parts) == 2 else ["complete"]
    provenance = {
        "loader": "xc",
        "files": [str(f) for p in parts for f in (p.path, *companion_files(p.path))],
        "parts": [{"file": str(p.path), "role": role, "first_row": start, "n_rows": n}
                  for p, role, start, n in zip(parts, roles, starts, sizes)],
        "notes": ([f"rows 0..{sizes[0] - 1} from {parts[0].path.name} (train), the rest from "
                   f"{parts[1].path.name} (test)"] if len(parts) == 2 else []),
    }
    labels = parts[0].labels if len(parts) == 1 else sp.vstack([p.labels for p in parts], format="csr")
    features = parts[0].features if len(parts) == 1 else sp.vstack([p.features for p in parts], format="csr")
    ids = np.concatenate([np.char.add(f"{p.path.stem}:", np.arange(n).astype(str)) for p, n in zip(parts, sizes)])
    stem = files[0].stem
    for suffix in ("_train", "-train", "_trn", ".train"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return Dataset(name=name or stem, labels=labels, label_names=[str(i) for i in range(labels.shape[1])], ids=ids,
                   features=features, provenance=provenance)


def write_xc(path: str | os.PathLike[str], labels: object, features: object = None, *,
             chunk_rows: int = 65536) -> Path:
    """Write labels (and features) in the XC repository's format, atomically; :func:`read_xc_file` reads it back.

    Verified negatives (2) and unannotated entries (-1) go to the companion files of ``path`` (module docstring),
    written before ``path``; a companion left by an earlier write of ``path`` that these labels do not need is
    removed after it, so that the files on disk always describe one matrix.

    Args:
        path: the file to write.
        labels: ``(n_samples, n_labels)`` labels in mlml's encoding (1, 0, 2, -1), dense or CSR.
        features: ``(n_samples, n_features)`` values, dense or CSR, or None (the header then gives 0 features).
        chunk_rows: rows formatted at a time (bounds the memory of the text being built).
    """
    matrix = sp.csr_matrix(labels)
    states = {state: sp.csr_matrix(matrix == state) for state in COMPANIONS}
    for state, entries in states.items():
        if entries.nnz:
            _write_file(companion_path(path, state), entries, None, chunk_rows)
    written = _write_file(path, sp.csr_matrix(matrix == 1), features, chunk_rows)
    for state, entries in states.items():
        if not entries.nnz:
            companion_path(path, state).unlink(missing_ok=True)
    return written


def _write_file(path: str | os.PathLike[str], positives: sp.csr_matrix, features: object, chunk_rows: int) -> Path:
    """One XC file: the entries of ``positives`` as each line's label ids, then the features."""
    from mlml._io import atomic_open

    positives.sort_indices()
    n_samples, n_labels = positives.shape
    values = None if features is None else sp.csr_matrix(features, dtype=np.float32)
    if values is not None:
        values.sort_indices()
        if values.shape[0] != n_samples:
            raise DataError(f"{path}: {values.shape[0]} feature rows for {n_samples} label rows.")
    n_features = 0 if values is None else values.shape[1]
    with atomic_open(path, "w", newline="\n") as handle:
        handle.write(f"{n_samples} {n_features} {n_labels}\n")
        for start in range(0, n_samples, chunk_rows):
            stop = min(start + chunk_rows, n_samples)
            handle.write(_format_rows(positives[start:stop], None if values is None else values[start:stop]))
    return Path(path)


def _format_rows(labels: sp.csr_matrix, features: sp.csr_matrix | None) -> str:
    """The sample lines of a block of rows (each ending in a newline)."""
    label_tokens = labels.indices.astype(str).tolist()
    lptr = labels.indptr.tolist()
    if features is not None:
        feature_tokens = np.char.add(np.char.add(features.indices.astype(str), ":"),
                                     features.data.astype(str)).tolist()
        fptr = features.indptr.tolist()
    lines = []
    for row in range(labels.shape[0]):
        head = ",".join(label_tokens[lptr[row] : lptr[row + 1]])
        if features is None:
            lines.append(head)
        else:  # no label: the line starts with a blank, as the XC repository writes it
            lines.append(head + " " + " ".join(feature_tokens[fptr[row] : fptr[row + 1]]))
    return "\n".join(lines) + "\n" if lines else ""
