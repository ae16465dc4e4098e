"""Writing tables of records as CSV (results tables, suggestions): one writer, one cell policy."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlml._io import atomic_open


def format_cell(value: Any, float_format: str | None = None) -> str:
    """None and NaN -> empty; booleans -> ``true``/``false``; floats in full precision (``repr``) unless
    ``float_format`` (e.g. ``"{:.6g}"``) is given; anything else -> ``str``."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return float_format.format(float(value)) if float_format else repr(float(value))
    return str(value)


def write_rows(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    float_format: str | None = None,
) -> Path:
    """Write ``rows`` (mappings; missing keys become empty cells) under the header ``columns``, atomically;
    creates the parent folder and returns the path."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([format_cell(row.get(column), float_format) for column in columns])
    return path
