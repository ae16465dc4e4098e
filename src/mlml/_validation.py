"""Parameter checks with messages that name the parameter, the constraint and the value received."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np

from mlml._params import FRACTION, Interval, Options, validate_param
from mlml.exceptions import MLMLError

RandomState = int | np.random.Generator | np.random.SeedSequence | None


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Return a ``numpy.random.Generator``; never touches global random state."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    raise MLMLError(
        "The 'random_state' parameter must be an int, a numpy Generator, a SeedSequence or None. "
        f"Got {random_state!r} instead."
    )


def check_fraction(value: Any, name: str, owner: str) -> float:
    """Check that ``value`` is a real number in [0, 1] (:data:`FRACTION`)."""
    return validate_param(value, name, [FRACTION], owner)


def check_option(value: Any, name: str, owner: str, options: Iterable[str]) -> str:
    """Check that ``value`` is one of ``options``."""
    return validate_param(value, name, [Options(tuple(options))], owner)


def check_positive_int(value: Any, name: str, owner: str, *, minimum: int = 1) -> int:
    """Check that ``value`` is an int >= ``minimum`` (1 by default; pass 0 for counts that may be zero)."""
    return validate_param(value, name, [Interval(Integral, minimum, None, closed="left")], owner)


def check_real(
    value: object,
    name: str,
    owner: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check that ``value`` is a finite real number inside the stated (closed unless ``*_open``) bounds."""
    closed = {(False, False): "both", (False, True): "left", (True, False): "right", (True, True): "neither"}
    return validate_param(value, name, [Interval(Real, low, high, closed=closed[low_open, high_open])], owner)


def first_duplicate(values: Iterable[Any]) -> Any | None:
    """The first value that occurs a second time in ``values``, or None when all are distinct."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n_bytes: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n_bytes) < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} PiB"  # pragma: no cover


def check_memory(n_bytes: int, what: str) -> None:
    """Raise before an allocation larger than this machine's physical memory, saying how much it needs.

    Raises:
        MLMLError: ``what`` needs ``n_bytes``, more than the machine has.
    """
    total = physical_memory()
    if total is not None and n_bytes > total:
        raise MLMLError(f"{what} needs {format_bytes(n_bytes)} of memory; this machine has {format_bytes(total)}.")
