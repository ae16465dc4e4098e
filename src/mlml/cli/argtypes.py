"""The types of the ``mlml`` flags: each parses one value and refuses a bad one with a line that says what was
expected (argparse turns it into a usage error naming the flag)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, TypeVar

from mlml._validation import first_duplicate

T = TypeVar("T")


def _number(convert: Callable[[str], T], valid: Callable[[T], bool], expected: str) -> Callable[[str], T]:
    """A flag type: ``convert(text)`` where it parses and ``valid`` holds, else a line saying what was expected."""

    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_seed = _number(int, lambda v: v >= 0, "an integer seed >= 0")
_fraction = _number(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")  # NaN fails the comparisons
_positive_float = _number(float, lambda v: 0.0 < v < math.inf, "a finite number > 0")


def _threads(text: str) -> int | str:
    return "auto" if text.strip().lower() == "auto" else _positive_int(text)


def _csv_items(text: str, parse: Callable[[str], T], what: str) -> list[T]:
    """Comma-separated values, each parsed; an empty list or a duplicate is an error (a grid would run nothing,
    or every trial of the duplicate twice)."""
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
    values = []
    for item in items:
        try:
            values.append(parse(item))
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {item!r} in {text!r}") from None
    duplicate = first_duplicate(values)
    if duplicate is not None:
        raise argparse.ArgumentTypeError(f"{duplicate!r} is listed twice in {text!r}")
    return values


def _csv_fractions(text: str) -> list[float]:
    return _csv_items(text, _fraction, "numbers in [0, 1]")


def _csv_seeds(text: str) -> list[int]:
    return _csv_items(text, _seed, "integer seeds >= 0")


def _csv_names(text: str) -> list[str]:
    return _csv_items(text, str, "names")


def _track(text: str) -> Any:
    """``mlflow[:URI]`` -> :class:`mlml.mlflow_client.TrackSpec` (MLflow itself is imported only when a run starts)."""
    from mlml.exceptions import MLMLError
    from mlml.mlflow_client import parse_track

    try:
        return parse_track(text)
    except MLMLError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _method_param(text: str) -> tuple[str | None, str, Any]:
    """``[METHOD:]KEY=VALUE`` -> ``(method, key, value)``; the value is read as YAML (numbers, true, null)."""
    import yaml

    target, sep, value = text.partition("=")
    method, _, key = target.rpartition(":")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected [METHOD:]KEY=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return (method.strip() or None), key.strip(), parsed
