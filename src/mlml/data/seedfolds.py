"""The seed paper's MS-COCO folds: complete labels, the 4 folds and the positives its authors hid.

The folder (``../shared/data/coco2017-seed-folds`` in this project) holds three files:

* ``labels.csv.gz`` -- ``id`` then one 0/1 column per category: the COMPLETE labels;
* ``folds.csv.gz`` -- ``id,fold``: the test fold (1..k) holding each sample; train split ``k`` is every sample
  not in fold ``k``;
* ``hidden.csv.gz`` -- ``ratio,fold,id,label``: every positive hidden in train split ``fold`` at ``ratio``.

The observed training labels of split ``k`` at ratio ``r`` are the complete labels of the training rows with
those entries set to 0. :func:`load_seed_split` returns them with the hidden mask, so that weight estimators
and simulations can be checked against the seed's own missing labels.

The parsed files are cached per process (keyed by path, size and modification time): ``hidden.csv.gz`` has
~776k rows and is parsed once.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlml.exceptions import DataError, MLMLError
from mlml.labels import read_labels_csv

LABELS_FILE, FOLDS_FILE, HIDDEN_FILE = "labels.csv.gz", "folds.csv.gz", "hidden.csv.gz"


@dataclass(frozen=True)
class SeedFolds:
    """All three files parsed.

    Attributes:
        ids: ``(n_samples,)`` str sample ids, in the order of ``labels.csv.gz``.
        label_names: the ``n_labels`` category names.
        labels: ``(n_samples, n_labels)`` int8 complete labels (0/1).
        folds: ``(n_samples,)`` int64 test fold of each sample (1..n_folds).
        hidden_ratio, hidden_fold, hidden_row, hidden_col: one entry per row of ``hidden.csv.gz``: the ratio,
            the train split, and the (row, column) of the hidden positive in ``labels``.
    """

    ids: np.ndarray
    label_names: list[str]
    labels: np.ndarray
    folds: np.ndarray
    hidden_ratio: np.ndarray
    hidden_fold: np.ndarray
    hidden_row: np.ndarray
    hidden_col: np.ndarray

    @property
    def n_folds(self) -> int:
        return int(self.folds.max())

    @property
    def ratios(self) -> list[float]:
        return sorted(float(r) for r in np.unique(self.hidden_ratio))


@dataclass(frozen=True)
class SeedSplit:
    """Train split ``split`` of the seed folds at missing ratio ``ratio``.

    Attributes:
        ids: ``(n_samples,)`` ids of all samples.
        label_names: the ``n_labels`` category names.
        labels: ``(n_samples, n_labels)`` int8 complete labels of all samples.
        split: the split number ``k`` (its test fold is fold ``k``).
        ratio: the missing ratio.
        train_index: ``(n_train,)`` sorted row indices of the samples not in fold ``k``.
        test_index: ``(n_test,)`` sorted row indices of fold ``k``.
        observed: ``(n_train, n_labels)`` int8 observed training labels (complete, hidden entries set to 0).
        hidden: ``(n_train, n_labels)`` bool mask of the entries the seed hid in the training rows.
    """

    ids: np.ndarray
    label_names: list[str]
    labels: np.ndarray
    split: int
    ratio: float
    train_index: np.ndarray
    test_index: np.ndarray
    observed: np.ndarray
    hidden: np.ndarray

    @property
    def train_labels(self) -> np.ndarray:
        """``(n_train, n_labels)`` complete labels of the training rows."""
        return self.labels[self.train_index]

    @property
    def test_labels(self) -> np.ndarray:
        """``(n_test, n_labels)`` complete labels of the test rows."""
        return self.labels[self.test_index]


_CACHE: dict[tuple[object, ...], SeedFolds] = {}


def load_seed_folds(root: str | os.PathLike[str]) -> SeedFolds:
    """Parse (once per process) the three files of the seed-folds folder ``root``.

    Raises:
        DataError: a missing file, or a bad line (naming the file and the line).
    """
    root = Path(root)
    paths = [root / name for name in (LABELS_FILE, FOLDS_FILE, HIDDEN_FILE)]
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such file (expected in the seed-folds folder {root}).")
    key = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    if key not in _CACHE:
        _CACHE.clear()  # one folder at a time is enough; keeps memory bounded
        _CACHE[key] = _parse(*paths)
    return _CACHE[key]


def load_seed_split(root: str | os.PathLike[str], split: int, ratio: float) -> SeedSplit:
    """Observed training labels and hidden mask of train split ``split`` at ratio ``ratio``.

    Args:
        root: the seed-folds folder.
        split: the split number in ``1..n_folds``; its test fold is fold ``split``.
        ratio: one of the ratios in ``hidden.csv.gz`` (0.25, 0.5, 0.75 in the shipped files).

    Raises:
        MLMLError: an unknown split or ratio (the message lists the valid ones).
        DataError: see :func:`load_seed_folds`.

    Example:
        From the repository root, with the real data sets in ``../shared/data``:

        >>> s = load_seed_split("../shared/data/coco2017-seed-folds", 1, 0.5)
        >>> s.observed.shape, int(s.hidden.sum())
        ((24731, 80), 63001)
    """
    folds = load_seed_folds(root)
    valid_splits = list(range(1, folds.n_folds + 1))
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or split not in valid_splits:
        raise MLMLError(
            f"The 'split' parameter of load_seed_split must be one of {valid_splits}. Got {split!r}."
        )
    ratios = folds.ratios
    matches = [r for r in ratios if np.isclose(r, float(ratio), rtol=0, atol=1e-9)]
    if not matches:
        raise MLMLError(f"The 'ratio' parameter of load_seed_split must be one of {ratios}. Got {ratio!r}.")
    ratio = matches[0]
    train_index = np.flatnonzero(folds.folds != split)
    test_index = np.flatnonzero(folds.folds == split)
    select = (folds.hidden_fold == split) & np.isclose(folds.hidden_ratio, ratio, rtol=0, atol=1e-9)
    rows, cols = folds.hidden_row[select], folds.hidden_col[select]
    if np.any(folds.folds[rows] == split):
        bad = int(rows[np.flatnonzero(folds.folds[rows] == split)[0]])
        raise DataError(
            f"{Path(root) / HIDDEN_FILE}: sample {str(folds.ids[bad])!r} is hidden in split {split}, "
            f"but it belongs to that split's test fold."
        )
    position = np.full(len(folds.ids), -1, dtype=np.int64)
    position[train_index] = np.arange(len(train_index))
    hidden = np.zeros((len(train_index), folds.labels.shape[1]), dtype=bool)
    hidden[position[rows], cols] = True
    observed = folds.labels[train_index].copy()
    observed[hidden] = 0
    return SeedSplit(
        ids=folds.ids,
        label_names=list(folds.label_names),
        labels=folds.labels,
        split=int(split),
        ratio=float(ratio),
        train_index=train_index,
        test_index=test_index,
        observed=observed,
        hidden=hidden,
    )


def _read_columns(path: Path, header: list[str]) -> list[tuple[np.ndarray, list[str]]]:
    """Read a gzipped CSV whose header must equal ``header``; return each column dictionary-coded.

    Column ``k`` comes back as ``(codes, values)``: ``codes`` an int64 array with one entry per data row
    (row ``i`` is on line ``i + 2``) and ``values`` the distinct strings: ``values[codes[i]]`` is the field.
    A file without quotes is split with numpy on the raw bytes (:func:`_split_plain`); anything else, and any
    irregular file, goes through :mod:`csv`, which also finds the line to report.
    """
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from None
    raw = raw.removeprefix(codecs.BOM_UTF8)  # a UTF-8 byte-order mark is accepted
    try:
        fast = _split_plain(raw, header)
    except UnicodeDecodeError:
        fast = None
    return fast if fast is not None else _split_csv(raw, path, header)


def _split_plain(raw: bytes, header: list[str]) -> list[tuple[np.ndarray, list[str]]] | None:
    """Vectorised split of an unquoted CSV; ``None`` where the file is not plain and regular."""
    if not raw.endswith(b"\n"):
        raw += b"\n"
    data = np.frombuffer(raw, dtype=np.uint8)
    if np.any((data == ord('"')) | (data == ord("\r"))):
        return None
    n_fields = len(header)
    seps = np.flatnonzero((data == ord(",")) | (data == ord("\n")))
    if len(seps) % n_fields or len(seps) < 2 * n_fields:
        return None
    ends = seps.reshape(-1, n_fields)
    is_newline = data[ends] == ord("\n")
    if np.any(is_newline[:, :-1]) or not np.all(is_newline[:, -1]):
        return None
    if [h.strip() for h in raw[: ends[0, -1]].decode("utf-8").split(",")] != header:
        return None
    starts = np.empty_like(ends)
    starts[:, 0] = np.concatenate(([0], ends[:-1, -1] + 1))
    starts[:, 1:] = ends[:, :-1] + 1
    starts, ends = starts[1:], ends[1:]
    widest = int((ends - starts).max())
    padded = np.zeros(len(data) + 8 * (widest // 8 + 1), dtype=np.uint8)
    padded[: len(data)] = data
    columns = []
    for k in range(n_fields):
        lengths = ends[:, k] - starts[:, k]
        width = 8 * (int(lengths.max()) // 8 + 1)
        chars = padded[starts[:, k, None] + np.arange(width)]
        chars[np.arange(width) >= lengths[:, None]] = 0
        words = chars.view(np.uint64)
        key = words[:, 0].copy()
        for q in range(1, words.shape[1]):  # a hash of the field; collisions are detected below
            key = key * np.uint64(0x100000001B3) ^ words[:, q]
        _, first, codes = np.unique(key, return_index=True, return_inverse=True)
        if not np.array_equal(chars, chars[first[codes]]):
            return None
        values = [bytes(chars[i, : lengths[i]]).decode("utf-8") for i in first]
        columns.append((codes.astype(np.int64).ravel(), values))
    return columns


def _split_csv(raw: bytes, path: Path, header: list[str]) -> list[tuple[np.ndarray, list[str]]]:
    try:
        rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot parse the CSV: {exc}") from None
    if not rows or [h.strip() for h in rows[0]] != header:
        raise DataError(
            f"{path}:1: expected the header {','.join(header)!r}, got {rows[0] if rows else None!r}."
        )
    rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: the file has a header but no rows.")
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    if np.any(widths != len(header)):
        first = int(np.flatnonzero(widths != len(header))[0])
        raise DataError(f"{path}:{first + 2}: expected {len(header)} fields, got {widths[first]}.")
    coded = []
    for column in zip(*rows):
        seen: dict[str, int] = {}
        codes = np.fromiter((seen.setdefault(v, len(seen)) for v in column), dtype=np.int64, count=len(rows))
        coded.append((codes, list(seen)))
    return coded


def _lookup(column: tuple[np.ndarray, list[str]], table: dict[str, int], path: Path, what: str) -> np.ndarray:
    """Map a coded column through ``table``; an unknown value is reported with its line."""
    codes, values = column
    mapped = np.array([table.get(v.strip(), -1) for v in values], dtype=np.int64)
    if np.any(mapped[codes] < 0):
        first = int(np.flatnonzero(mapped[codes] < 0)[0])
        raise DataError(f"{path}:{first + 2}: unknown {what} {str(values[codes[first]])!r}.")
    return mapped[codes]


def _parse_numbers(column: tuple[np.ndarray, list[str]], kind: type, path: Path, name: str) -> np.ndarray:
    codes, values = column
    parsed = []
    for code, value in enumerate(values):
        try:
            parsed.append(kind(value))
        except ValueError:
            first = int(np.flatnonzero(codes == code)[0])
            raise DataError(
                f"{path}:{first + 2}: column {name!r} holds {value!r}; expected a {kind.__name__}."
            ) from None
    return np.asarray(parsed)[codes]


def _parse(labels_path: Path, folds_path: Path, hidden_path: Path) -> SeedFolds:
    table = read_labels_csv(labels_path, allow_unknown=False)
    ids, names, labels = table.ids, table.names, table.values
    row_of = {sample_id: i for i, sample_id in enumerate(ids)}
    col_of = {name: j for j, name in enumerate(names)}

    fold_ids, fold_column = _read_columns(folds_path, ["id", "fold"])
    fold_values = _parse_numbers(fold_column, int, folds_path, "fold")
    if np.any(fold_values < 1):
        first = int(np.flatnonzero(fold_values < 1)[0])
        raise DataError(f"{folds_path}:{first + 2}: fold {fold_values[first]} is not a fold number >= 1.")
    fold_row = _lookup(fold_ids, row_of, folds_path, f"id (not in {LABELS_FILE})")
    folds = np.zeros(len(ids), dtype=np.int64)
    if len(np.unique(fold_row)) != len(fold_row):
        seen = np.zeros(len(ids), dtype=bool)
        for line, r in enumerate(fold_row, start=2):
            if seen[r]:
                raise DataError(f"{folds_path}:{line}: the id {str(ids[r])!r} occurs more than once.")
            seen[r] = True
    folds[fold_row] = fold_values
    if np.any(folds == 0):
        missing = ids[np.flatnonzero(folds == 0)[0]]
        raise DataError(f"{folds_path}: the id {str(missing)!r} of {LABELS_FILE} has no fold.")

    columns = _read_columns(hidden_path, ["ratio", "fold", "id", "label"])
    ratio = _parse_numbers(columns[0], float, hidden_path, "ratio").astype(np.float64)
    if np.any((ratio < 0) | (ratio > 1)):
        first = int(np.flatnonzero((ratio < 0) | (ratio > 1))[0])
        raise DataError(f"{hidden_path}:{first + 2}: ratio {ratio[first]} is not in [0, 1].")
    fold = _parse_numbers(columns[1], int, hidden_path, "fold").astype(np.int64)
    if np.any((fold < 1) | (fold > folds.max())):
        first = int(np.flatnonzero((fold < 1) | (fold > folds.max()))[0])
        raise DataError(f"{hidden_path}:{first + 2}: fold {fold[first]} is not in 1..{folds.max()}.")
    row = _lookup(columns[2], row_of, hidden_path, f"id (not in {LABELS_FILE})")
    col = _lookup(columns[3], col_of, hidden_path, f"label (not a column of {LABELS_FILE})")
    not_positive = labels[row, col] != 1
    if np.any(not_positive):
        first = int(np.flatnonzero(not_positive)[0])
        raise DataError(
            f"{hidden_path}:{first + 2}: sample {str(ids[row[first]])!r} has no positive "
            f"{names[col[first]]!r} to hide."
        )
    ratio_code = np.unique(ratio, return_inverse=True)[1]
    key = ((ratio_code * (folds.max() + 1) + fold) * len(ids) + row) * len(names) + col
    unique_keys, first_rows = np.unique(key, return_index=True)
    if len(unique_keys) != len(key):
        line = int(np.setdiff1d(np.arange(len(key)), first_rows)[0]) + 2
        raise DataError(f"{hidden_path}:{line}: this (ratio, fold, id, label) entry occurs twice.")
    return SeedFolds(ids, list(names), labels, folds, ratio, fold, row, col)
