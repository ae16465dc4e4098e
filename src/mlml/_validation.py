"""Parameter checks with messages that name the parameter, the constraint and the value received."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

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
    """Check that ``value`` is a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise MLMLError(f"The {name!r} parameter of {owner} must be a float in [0, 1]. Got {value!r} instead.")
    return float(value)


def check_option(value: Any, name: str, owner: str, options: Iterable[str]) -> str:
    """Check that ``value`` is one of ``options``."""
    options = list(options)
    if value not in options:
        raise MLMLError(
            f"The {name!r} parameter of {owner} must be one of {', '.join(map(repr, options))}. "
            f"Got {value!r} instead."
        )
    return value


def check_positive_int(value: Any, name: str, owner: str, *, minimum: int = 1) -> int:
    """Check that ``value`` is an int >= ``minimum`` (1 by default; pass 0 for counts that may be zero)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise MLMLError(
            f"The {name!r} parameter of {owner} must be an int >= {minimum}. Got {value!r} instead."
        )
    return int(value)


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
    """Check that ``value`` is a real number inside the stated (closed unless ``*_open``) bounds."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and low is not None:
        ok = float(value) > low if low_open else float(value) >= low
    if ok and high is not None:
        ok = float(value) < high if high_open else float(value) <= high
    if not ok:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        raise MLMLError(
            f"The {name!r} parameter of {owner} must be a real number in {left}{lo}, {hi}{right}. "
            f"Got {value!r} instead."
        )
    return float(value)


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
