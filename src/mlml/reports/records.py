"""Trial records as the experiment runner stores them: validation, labels and grouping.

A record is a :class:`mlml.record.TrialRecord` (its fields: ``docs/trial-record.md``, generated from it);
:func:`check_records` also takes plain dicts of the same fields (records written by hand, or by another tool)
and returns records, which every reader then reads by attribute.

``weights_source == "complete"`` marks the seed code's leak (confidence weights computed from the complete
labels of the whole data set); ``oracle`` marks methods that read the hidden mask (IM-WCE). Both are labelled
in every table and figure through :func:`series_label`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from mlml.exceptions import DataError
from mlml.record import TrialRecord

REQUIRED_FIELDS: tuple[str, ...] = (
    "trial_id",
    "dataset",
    "method",
    "ratio",
    "fold",
    "seed",
    "status",
    "weights_source",
    "oracle",
)
STATUSES: tuple[str, ...] = ("done", "failed")
WEIGHTS_SOURCES: tuple[str, ...] = ("observed", "complete")
#: The paper's methods first, in the paper's order; any other method follows alphabetically.
METHOD_ORDER: tuple[str, ...] = ("bce", "im-wce", "cb-wce")

LEAK_TAG = "LEAK: weights from complete labels"
ORACLE_TAG = "oracle: reads hidden mask"


def _describe(record: Mapping[str, Any], index: int) -> str:
    trial = record.get("trial_id") if isinstance(record, Mapping) else None
    return f"trial record #{index}" + (f" (trial_id={trial!r})" if trial is not None else "")


def check_records(records: Iterable[Mapping[str, Any]]) -> list[TrialRecord]:
    """Validate trial records (:class:`~mlml.record.TrialRecord` or plain dicts of its fields) and return them as
    records (optional fields take their defaults).

    Raises:
        DataError: a record that is not a mapping, lacks a required field, or holds a bad value; the message
            names the record (index and trial id), the field and the value.
    """
    checked: list[TrialRecord] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(f"trial record #{index} must be a mapping (dict). Got {type(record).__name__}.")
        where = _describe(record, index)
        missing = [field for field in REQUIRED_FIELDS if field not in record]
        if missing:
            raise DataError(f"{where} lacks the field(s) {', '.join(missing)}.")
        out = dict(record)
        if out["status"] not in STATUSES:
            raise DataError(f"{where}: 'status' must be one of {STATUSES}. Got {out['status']!r}.")
        if out["weights_source"] not in WEIGHTS_SOURCES:
            raise DataError(
                f"{where}: 'weights_source' must be one of {WEIGHTS_SOURCES}. Got {out['weights_source']!r}."
            )
        ratio = out["ratio"]
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= float(ratio) <= 1:
            raise DataError(f"{where}: 'ratio' must be a float in [0, 1]. Got {ratio!r}.")
        out["ratio"] = float(ratio)
        for field in ("dataset", "method", "trial_id"):
            if not isinstance(out[field], str) or not out[field]:
                raise DataError(f"{where}: {field!r} must be a non-empty string. Got {out[field]!r}.")
        out["oracle"] = bool(out["oracle"])
        if out["status"] == "done" and not isinstance(out.get("metrics"), Mapping):
            raise DataError(f"{where} has status 'done' but no 'metrics' mapping (got {out.get('metrics')!r}).")
        for field in ("metrics_tuned", "per_class", "diagnostics", "timings"):
            if out.get(field) is not None and not isinstance(out[field], Mapping):
                raise DataError(
                    f"{where}: {field!r} must be a mapping or None. Got {type(out[field]).__name__}."
                )
        checked.append(TrialRecord.from_dict(out))
    return checked


def series_key(record: TrialRecord) -> tuple[str, str, bool]:
    """What a line in a figure or a row block in a table stands for: ``(method, weights_source, oracle)``."""
    return (record.method, record.weights_source, bool(record.oracle))


def series_label(method: str, weights_source: str = "observed", oracle: bool = False) -> str:
    """The method name as shown in tables and legends, with the leak and oracle tags where they apply.

    >>> series_label("cb-wce", "complete")
    'cb-wce [LEAK: weights from complete labels]'
    >>> series_label("im-wce", oracle=True)
    'im-wce [oracle: reads hidden mask]'
    """
    tags = []
    if weights_source == "complete":
        tags.append(LEAK_TAG)
    if oracle:
        tags.append(ORACLE_TAG)
    return method + "".join(f" [{tag}]" for tag in tags)


def method_rank(method: str) -> tuple[int, str]:
    """Sort key: the paper's methods in the paper's order, then the rest alphabetically."""
    return (METHOD_ORDER.index(method), "") if method in METHOD_ORDER else (len(METHOD_ORDER), method)


def series_rank(key: tuple[str, str, bool]) -> tuple[Any, ...]:
    method, source, oracle = key
    return (*method_rank(method), WEIGHTS_SOURCES.index(source), oracle)


def as_float(value: Any) -> float:
    """A stored number as float; None (JSON's stand-in for NaN) becomes NaN."""
    if value is None:
        return math.nan
    return float(value)


def matches(record: TrialRecord, key: str | Mapping[str, Any]) -> bool:
    """Whether a record is the trial an expected key names: a trial id, a mapping holding a ``trial_id``
    (matched on it alone), or a mapping of record fields (all must agree; numbers to 1e-9)."""
    if isinstance(key, str):
        return record.trial_id == key
    if "trial_id" in key:
        return record.trial_id == key["trial_id"]
    for field, value in key.items():
        have = record.get(field)  # any field named by the key, known or extra
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and isinstance(have, numbers.Real):
            if not math.isclose(float(have), float(value), abs_tol=1e-9):
                return False
        elif have != value:
            return False
    return True


def describe_key(key: str | Mapping[str, Any]) -> str:
    """A short human-readable form of an expected trial key."""
    if isinstance(key, str):
        return key
    shown = [field for field in _KEY_FIELDS if field in key] or list(key)
    text = ", ".join(f"{field}={key[field]}" for field in shown)
    return text + (f" (trial_id={key['trial_id']})" if "trial_id" in key and "trial_id" not in shown else "")


_KEY_FIELDS = ("dataset", "method", "ratio", "fold", "seed", "weights_source")
