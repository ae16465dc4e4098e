"""Reading one ARFF file (dense ``v1,v2,...`` or sparse ``{index value, ...}`` rows) with liac-arff, as codes:
attribute names (Weka's escapes resolved) and types, the values as dense or COO arrays, with errors that name the
file and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlml.exceptions import DataError

_NUMERIC_TYPES = {"NUMERIC", "REAL", "INTEGER"}


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


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_ESCAPE = re.compile(r"\\(.)")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def unescape_arff_name(name: str) -> str:
    """An attribute name as Weka means it: backslash escapes resolved (liac-arff keeps them).

    ``'Example\\'s Label'`` in the ARFF header is the name ``Example's Label``; ``\\n``, ``\\t``, ``\\r``
    are control characters and any other escaped character stands for itself (``\\%``, ``\\"``, ``\\\\``).

    >>> unescape_arff_name("Example\\\\'s Label")
    "Example's Label"
    """
    return _ESCAPE.sub(lambda match: _ESCAPES.get(match.group(1), match.group(1)), name)


_ATTRIBUTE = re.compile(r"\s*@attribute\s+", re.IGNORECASE)
_DATA = re.compile(r"\s*@data\b", re.IGNORECASE)


def _written_names(text: str) -> list[str]:
    """The attribute names as the header writes them, quotes removed and backslash escapes kept: a name quoted
    with ``'`` or ``"`` ends at the first unescaped quote of its kind (``"Robin \\"red\\""`` is ``Robin \\"red\\"``),
    a bare name at the first blank."""
    names = []
    for line in text.splitlines():
        if _DATA.match(line):
            break
        match = _ATTRIBUTE.match(line)
        if not match:
            continue
        rest = line[match.end() :]
        if rest[:1] in ("'", '"'):
            quote, end, escaped = rest[0], None, False
            for i, char in enumerate(rest[1:], start=1):
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == quote:
                    end = i
                    break
            names.append(rest[1:end] if end is not None else rest[1:])
        else:
            names.append(re.split(r"[\s{]", rest.strip(), maxsplit=1)[0])
    return names


class _Arff:
    """One ARFF file as codes: attribute names and types, and the values as dense or COO arrays."""

    def __init__(self, path: Path) -> None:
        import arff  # liac-arff, a core dependency

        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is accepted and dropped
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read the ARFF file: {exc}") from None
        self.data_line, self.sparse = _data_section(path, self.text)
        try:
            parsed = arff.loads(self.text, return_type=arff.COO if self.sparse else arff.DENSE)
        except arff.ArffException as exc:
            raise DataError(f"{path}:{exc.line}: invalid ARFF: {exc}") from None
        self.raw_names = [name for name, _ in parsed["attributes"]]
        written = _written_names(self.text)
        if len(written) == len(self.raw_names):  # liac-arff cuts a quoted name at an escaped quote of its kind
            self.raw_names = written
        self.names = [unescape_arff_name(name) for name in self.raw_names]
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
        """Numeric values of one attribute's entries (nominal: position in the declaration).

        Raises:
            DataError: a missing value, or a numeric value that is NaN, infinite or beyond the float32 range
                (file, line and attribute).
        """
        kind = self.types[attribute]
        missing = np.flatnonzero(np.equal(values, None))
        if missing.size:
            raise self._fail_missing(int(rows[missing[0]]), attribute)
        if isinstance(kind, list):
            position = {value: index for index, value in enumerate(kind)}
            return np.fromiter((position[v] for v in values), dtype=np.float64, count=len(values))
        if str(kind).upper() in _NUMERIC_TYPES:
            numbers = values.astype(np.float64)
            bad = np.flatnonzero(~(np.abs(numbers) <= _FLOAT32_MAX))  # NaN compares False
            if bad.size:
                line = _row_line(self.text, self.data_line, int(rows[bad[0]]))
                raise DataError(
                    f"{self.path}:{line}: attribute {self.names[attribute]!r} holds {float(numbers[bad[0]])!r}; "
                    "values must be finite numbers within the float32 range."
                )
            return numbers
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


