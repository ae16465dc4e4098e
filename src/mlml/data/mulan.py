"""MULAN multi-label data sets (ARFF + XML label list) and the built-in yeast.

A MULAN data set is one or more ARFF files (dense rows ``v1,v2,...`` or sparse rows ``{index value, ...}``)
and an XML file naming the label attributes::

    <labels xmlns="http://mulan.sourceforge.net/labels">
      <label name="Class1"></label> ...
    </labels>

The label attributes are the ARFF attributes the XML names, wherever they sit (not necessarily last). **Label
columns keep the ARFF attribute order**, not the XML order (yeast.xml lists ``Class6`` before ``Class4``;
enron's ARFF and XML orders differ throughout), so a data set read from ARFF lines up with the same data from
any other file that follows the ARFF. Every other attribute is a feature: numeric attributes as they are,
nominal ones as the position of their value in the declaration (for the ``{0,1}`` word indicators of medical
and enron, the value itself). Sparse ARFF gives CSR features. liac-arff is the parser (its errors carry the
line number).

The built-in default data set, :func:`load_river_yeast`, reads the MULAN yeast file shipped inside the
``river`` wheel (``river/datasets/yeast.csv.gz``) without importing river.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlml._validation import first_duplicate
from mlml.data.dataset import Dataset
from mlml.exceptions import DataError

_NUMERIC_TYPES = {"NUMERIC", "REAL", "INTEGER"}


def read_mulan_xml(path: str | os.PathLike[str]) -> list[str]:
    """Label names from a MULAN XML file, in document order (nested, hierarchical labels included).

    Raises:
        DataError: the file is missing, is not well-formed XML (with line and column), or names no label.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such MULAN label file (.xml).")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, column = exc.position
        raise DataError(f"{path}:{line}: not well-formed XML (column {column}): {exc}") from None
    names = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "label":
            name = element.get("name")
            if not name:
                raise DataError(f"{path}: a <label> element has no 'name' attribute.")
            names.append(name)
    if not names:
        raise DataError(f"{path}: the XML file names no <label name=...> element.")
    duplicate = first_duplicate(names)
    if duplicate is not None:
        raise DataError(f"{path}: the label {duplicate!r} is listed more than once.")
    return names


def _data_section(path: Path, text: str) -> tuple[int, bool]:
    """Line number (1-based) of ``@data`` and whether the first data row is sparse."""
    data_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if data_line is None:
            if stripped.lower().startswith("@data"):
                data_line = number
            continue
        if stripped and not stripped.startswith("%"):
            return data_line, stripped.startswith("{")
    if data_line is None:
        raise DataError(f"{path}: no @data section; is this an ARFF file?")
    return data_line, False


def _row_line(text: str, data_line: int, row: int) -> int:
    """The file line (1-based) of data row ``row`` (0-based), skipping blank lines and comments."""
    count = -1
    for number, line in enumerate(text.splitlines()[data_line:], start=data_line + 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("%"):
            count += 1
            if count == row:
                return number
    return -1


class _Arff:
    """One ARFF file as codes: attribute names and types, and the values as dense or COO arrays."""

    def __init__(self, path: Path) -> None:
        import arff  # liac-arff, a core dependency

        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read the ARFF file: {exc}") from None
        self.data_line, self.sparse = _data_section(path, self.text)
        try:
            parsed = arff.loads(self.text, return_type=arff.COO if self.sparse else arff.DENSE)
        except arff.ArffException as exc:
            raise DataError(f"{path}:{exc.line}: invalid ARFF: {exc}") from None
        self.names = [name for name, _ in parsed["attributes"]]
        self.types = [kind for _, kind in parsed["attributes"]]
        self.relation = parsed.get("relation", "")
        if self.sparse:
            values, rows, cols = parsed["data"]
            self.rows = np.asarray(rows, dtype=np.int64)
            self.cols = np.asarray(cols, dtype=np.int64)
            self.values = np.asarray(values, dtype=object)
            self.n_rows = int(self._count_rows())
            self.numeric = self._sparse_codes()
        else:
            self.dense = np.asarray(parsed["data"], dtype=object).reshape(-1, len(self.names))
            self.n_rows = self.dense.shape[0]
        if self.n_rows == 0:
            raise DataError(f"{path}: the @data section holds no rows.")

    def _sparse_codes(self) -> np.ndarray:
        """Numeric codes of every stored sparse entry, attribute by attribute."""
        out = np.zeros(self.values.shape[0], dtype=np.float64)
        order = np.argsort(self.cols, kind="stable")
        attributes, starts = np.unique(self.cols[order], return_index=True)
        for attribute, start, stop in zip(attributes, starts, [*starts[1:], order.size]):
            entries = order[start:stop]
            out[entries] = self.codes(int(attribute), self.values[entries], self.rows[entries])
        return out

    def _count_rows(self) -> int:
        count = 0
        for line in self.text.splitlines()[self.data_line :]:
            stripped = line.strip()
            if stripped and not stripped.startswith("%"):
                count += 1
        return count

    def _fail_missing(self, row: int, attribute: int) -> DataError:
        line = _row_line(self.text, self.data_line, row)
        return DataError(
            f"{self.path}:{line}: attribute {self.names[attribute]!r} is missing ('?'); mlml needs complete "
            "labels and features."
        )

    def codes(self, attribute: int, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Numeric values of one attribute's entries (nominal: position in the declaration)."""
        kind = self.types[attribute]
        missing = np.flatnonzero(np.equal(values, None))
        if missing.size:
            raise self._fail_missing(int(rows[missing[0]]), attribute)
        if isinstance(kind, list):
            position = {value: index for index, value in enumerate(kind)}
            return np.fromiter((position[v] for v in values), dtype=np.float64, count=len(values))
        if str(kind).upper() in _NUMERIC_TYPES:
            return values.astype(np.float64)
        raise DataError(
            f"{self.path}: attribute {self.names[attribute]!r} has type {kind!r}; mlml reads numeric and "
            "nominal attributes only."
        )

    def label_column(self, attribute: int) -> np.ndarray:
        """The 0/1 values of a label attribute, shape ``(n_rows,)``."""
        kind = self.types[attribute]
        name = self.names[attribute]
        if isinstance(kind, list):
            if not set(kind) <= {"0", "1"}:
                raise DataError(
                    f"{self.path}: label attribute {name!r} is declared {{{','.join(kind)}}}; "
                    "a label must be "
                    "nominal {0,1} or numeric 0/1."
                )
            lookup = np.array([int(v) for v in kind], dtype=np.float64)
        elif str(kind).upper() in _NUMERIC_TYPES:
            lookup = None
        else:
            raise DataError(f"{self.path}: label attribute {name!r} has type {kind!r}; expected {{0,1}}.")
        if self.sparse:
            entries = np.flatnonzero(self.cols == attribute)
            column = np.zeros(self.n_rows, dtype=np.float64)  # an omitted entry is code (or value) 0
            column[self.rows[entries]] = self.numeric[entries]
        else:
            column = self.codes(attribute, self.dense[:, attribute], np.arange(self.n_rows))
        if lookup is not None:
            column = lookup[column.astype(np.int64)]
        bad = np.flatnonzero((column != 0) & (column != 1))
        if bad.size:
            line = _row_line(self.text, self.data_line, int(bad[0]))
            raise DataError(
                f"{self.path}:{line}: label attribute {name!r} holds {column[bad[0]]:g}; "
                "labels must be 0 or 1."
            )
        return column.astype(np.int8)

    def features(self, attributes: list[int]) -> np.ndarray | sp.csr_matrix:
        """The feature attributes as a ``float32`` matrix (CSR for a sparse file)."""
        if self.sparse:
            position = np.full(len(self.names), -1, dtype=np.int64)
            position[attributes] = np.arange(len(attributes))
            keep = np.flatnonzero(position[self.cols] >= 0)
            matrix = sp.csr_matrix(
                (self.numeric[keep], (self.rows[keep], position[self.cols[keep]])),
                shape=(self.n_rows, len(attributes)),
            )
            matrix.eliminate_zeros()
            return matrix.astype(np.float32)
        columns = [self.codes(a, self.dense[:, a], np.arange(self.n_rows)) for a in attributes]
        return (
            np.column_stack(columns).astype(np.float32) if columns else np.zeros((self.n_rows, 0), np.float32)
        )


def load_mulan(
    arff_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    xml_path: str | os.PathLike[str],
    *,
    name: str | None = None,
) -> Dataset:
    """Read a MULAN data set: one or more ARFF files (rows concatenated in the order given) and its XML.

    Args:
        arff_paths: one ARFF path or several with identical attributes (e.g. ``scene-train.arff`` and
            ``scene-test.arff``).
        xml_path: the MULAN XML label list.
        name: data set name; defaults to the XML file's stem.

    Returns:
        A :class:`Dataset` with ``features`` ``(n_samples, n_features)`` (CSR for sparse ARFF), labels in ARFF
        attribute order, and ids ``"<arff stem>:<row>"``.

    Raises:
        DataError: unreadable or malformed files (file and line), labels named in the XML but absent from the
            ARFF, files whose attributes differ, label values other than 0/1, missing values.
    """
    paths = (
        [Path(arff_paths)] if isinstance(arff_paths, (str, os.PathLike)) else [Path(p) for p in arff_paths]
    )
    if not paths:
        raise DataError("load_mulan needs at least one ARFF file.")
    xml_path = Path(xml_path)
    label_set = read_mulan_xml(xml_path)
    labels, features, ids = [], [], []
    first: _Arff | None = None
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such ARFF file.")
        parsed = _Arff(path)
        if first is None:
            first = parsed
            missing = [label for label in label_set if label not in parsed.names]
            if missing:
                raise DataError(
                    f"{xml_path}: {len(missing)} label(s) named in the XML are not attributes of {path}: "
                    f"{', '.join(map(repr, missing[:5]))}."
                )
        elif parsed.names != first.names or parsed.types != first.types:
            differ = next(
                (i for i, (a, b) in enumerate(zip(parsed.names, first.names)) if a != b), len(first.names)
            )
            raise DataError(
                f"{path}: its attributes differ from those of {first.path} (first difference at attribute "
                f"{differ + 1}); files of one data set must share their header."
            )
        label_attributes = [i for i, n in enumerate(parsed.names) if n in set(label_set)]
        feature_attributes = [i for i, n in enumerate(parsed.names) if n not in set(label_set)]
        labels.append(np.column_stack([parsed.label_column(a) for a in label_attributes]))
        features.append(parsed.features(feature_attributes))
        ids.extend(f"{path.stem}:{row}" for row in range(parsed.n_rows))
    assert first is not None
    label_names = [n for n in first.names if n in set(label_set)]
    if first.sparse or any(sp.issparse(f) for f in features):
        all_features = sp.vstack([sp.csr_matrix(f) for f in features], format="csr")
    else:
        all_features = np.vstack(features)
    order_note = (
        "label columns follow the ARFF attribute order, which differs from the XML order"
        if label_names != label_set
        else "label columns follow the ARFF attribute order (same as the XML)"
    )
    return Dataset(
        name=name or xml_path.stem,
        labels=np.vstack(labels),
        label_names=label_names,
        ids=np.asarray(ids),
        features=all_features,
        provenance={
            "loader": "mulan",
            "files": [str(p) for p in paths] + [str(xml_path)],
            "notes": [order_note]
            + ([f"rows of {len(paths)} ARFF files concatenated"] if len(paths) > 1 else []),
        },
    )


def _train_test_key(path: Path) -> tuple[int, str]:
    stem = path.stem.lower()
    rank = 0 if "train" in stem else 2 if "test" in stem else 1
    return rank, path.name


def load_mulan_dir(directory: str | os.PathLike[str]) -> Dataset:
    """Read the MULAN data set in ``directory``: its one ``.xml`` file and all its ``.arff`` files.

    Several ARFF files (``scene-train.arff``, ``scene-test.arff``) are merged, train first, then any other,
    then test (ties by file name).

    Raises:
        DataError: the folder is missing, holds no or several XML files, or no ARFF file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder (expected a MULAN data set: one .xml, .arff files).")
    xml_files = sorted(directory.glob("*.xml"))
    arff_files = sorted(directory.glob("*.arff"), key=_train_test_key)
    if len(xml_files) != 1:
        found = ", ".join(p.name for p in xml_files) or "none"
        raise DataError(f"{directory}: expected exactly one MULAN .xml label file; found {found}.")
    if not arff_files:
        raise DataError(f"{directory}: no .arff file.")
    return load_mulan(arff_files, xml_files[0], name=directory.name)


def river_yeast_path() -> Path:
    """Path of ``yeast.csv.gz`` inside the installed ``river`` package (not imported).

    Raises:
        DataError: river is not installed or its wheel lacks the file (river >= 0.26 ships it).
    """
    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The built-in data set 'yeast' is read from the river package, which is not installed: "
            "pip install 'river>=0.26'."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "yeast.csv.gz"
        if path.is_file():
            return path
    raise DataError(
        f"river is installed at {list(spec.submodule_search_locations)} but has no datasets/yeast.csv.gz; "
        "pip install 'river>=0.26'."
    )


def load_river_yeast(path: str | os.PathLike[str] | None = None) -> Dataset:
    """MULAN yeast (2,417 genes x 103 features, 14 functional classes) from river's ``yeast.csv.gz``.

    Columns ``Att1..Att103`` are the features and ``Class1..Class14`` the labels, in file order (the order of
    MULAN's yeast.arff). Ids are ``yeast:<row>``, as :func:`load_mulan` gives for ``yeast.arff``.

    Args:
        path: the CSV (gzip) file; defaults to :func:`river_yeast_path`.

    Raises:
        DataError: the file is unreadable, a row is malformed (with its line) or a label is not 0/1.
    """
    path = Path(path) if path is not None else river_yeast_path()
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the yeast file: {exc}") from None
    if not rows:
        raise DataError(f"{path}: empty file.")
    header = [h.strip() for h in rows[0]]
    label_columns = [i for i, h in enumerate(header) if h.startswith("Class")]
    feature_columns = [i for i, h in enumerate(header) if not h.startswith("Class")]
    if not label_columns:
        raise DataError(f"{path}:1: no 'Class...' label column in the header.")
    body = [row for row in rows[1:] if row]
    for line, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}.")
    try:
        values = np.asarray(body, dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: a value is not a number: {exc}") from None
    labels = values[:, label_columns]
    bad = np.argwhere((labels != 0) & (labels != 1))
    if bad.size:
        row, column = bad[0]
        raise DataError(
            f"{path}:{row + 2}: label column {header[label_columns[column]]!r} holds "
            f"{labels[row, column]:g}; "
            "labels must be 0 or 1."
        )
    return Dataset(
        name="yeast",
        labels=labels.astype(np.int8),
        label_names=[header[i] for i in label_columns],
        ids=np.asarray([f"yeast:{i}" for i in range(len(body))]),
        features=values[:, feature_columns].astype(np.float32),
        provenance={
            "loader": "river-yeast",
            "files": [str(path)],
            "notes": ["MULAN yeast as shipped in the river wheel (read directly, river not imported)"],
        },
    )


__all__ = ["load_mulan", "load_mulan_dir", "load_river_yeast", "read_mulan_xml", "river_yeast_path"]
