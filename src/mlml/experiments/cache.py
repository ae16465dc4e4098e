"""A per-process cache of loaded data for the grid's workers (see :mod:`mlml.experiments.runner`)."""

from __future__ import annotations

import functools
import threading
from typing import Any


def per_process_cache(maxsize: int) -> Any:
    """``functools.lru_cache`` whose first call for a key runs once even when several threads ask at the same
    time: a Dask worker runs a task per thread, and a large data set must be loaded once per worker process, not
    once per thread (twice the memory). Calls for other keys are not held up."""

    def decorate(function: Any) -> Any:
        cached = functools.lru_cache(maxsize=maxsize)(function)
        guard = threading.Lock()
        locks: dict[tuple[Any, ...], threading.Lock] = {}

        @functools.wraps(function)
        def wrapper(*args: Any) -> Any:
            with guard:
                lock = locks.setdefault(args, threading.Lock())
            with lock:
                return cached(*args)

        wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
        wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate
