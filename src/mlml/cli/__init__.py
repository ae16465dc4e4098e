"""The ``mlml`` command line: the argparse front. Each verb checks what only the command line knows (flag
combinations, output paths), calls :mod:`mlml.service` and the core, and prints and writes; what the library
logs is shown through :func:`show_messages`.

Every verb calls library functions; bad input (``MLMLError``, ``DataError``, missing files) becomes one line on
stderr and exit code 2.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from mlml.cli.parser import build_parser
from mlml.exceptions import MLMLError

__all__ = ["build_parser", "error_message", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlml`` with ``argv`` (default: the process's arguments) and return the exit code.

    Every error ends as one line on stderr and exit code 2 (``MLML_DEBUG=1`` re-raises it, with its traceback);
    an interrupted run exits 130 and keeps its finished work.
    """
    parser = build_parser()
    show_messages()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: keep main's int contract
        return int(exc.code or 0)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args)
            return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"mlml {args.verb}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- keeps Python's exit-time flush from failing again
        return 141
    except Exception as exc:  # noqa: BLE001 -- one line for the user; MLML_DEBUG=1 shows the traceback
        if os.environ.get("MLML_DEBUG"):
            raise
        print(f"mlml {args.verb}: error: {error_message(exc)}", file=sys.stderr)
        return 2


def _warning_printer(args: Any) -> Any:
    """``warnings.showwarning`` for a command: one line ``mlml VERB: warning: ...`` on stderr, whose advice names
    what this command takes (a duplicate-samples warning names ``--drop-duplicates`` only where the command has it)."""
    verb = " ".join(v for v in (args.verb, getattr(args, "data_verb", None)) if v)

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        from mlml.data.duplicates import DuplicateSamplesWarning

        text = str(message)
        if issubclass(category, DuplicateSamplesWarning):
            text = text.replace("load with drop_duplicates=True to keep one of each.",
                                "add --drop-duplicates to keep one of each." if hasattr(args, "drop_duplicates")
                                else f"`mlml {verb}` keeps every sample: remove the copies from the data files, or "
                                     "use `mlml.data.load(..., drop_duplicates=True)` in Python.")
        print(f"mlml {verb}: warning: {text}", file=file or sys.stderr)

    return show


class _Stderr(logging.StreamHandler):
    """A handler writing to the current ``sys.stderr`` (not the one of the moment it was made)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):  # noqa: ANN201 -- logging.StreamHandler's attribute
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


#: Library loggers whose INFO messages the command line shows (the others: warnings and errors only).
SHOWN_LOGGERS = ("mlml.experiments", "mlml.tracking")


def show_messages() -> None:
    """What the command line shows of the library's messages (the library itself never prints): one line each
    on stderr -- INFO and above of :data:`SHOWN_LOGGERS`, WARNING and above of the other ``mlml`` loggers
    (e.g. ``mlml.training``'s per-epoch lines stay hidden). Idempotent."""
    root = logging.getLogger("mlml")
    if not any(isinstance(handler, _Stderr) for handler in root.handlers):
        root.addHandler(_Stderr())
    if root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    for name in SHOWN_LOGGERS:
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.INFO)


def error_message(exc: BaseException) -> str:
    """One line a user can act on for any exception a command can raise."""
    if isinstance(exc, MLMLError):
        return _plain(str(exc))
    full = _disk_full(exc)
    if full is not None:  # also when a library wrapped it, or failed again while cleaning up after it
        where = f"{full.filename}: " if full.filename else ""
        return f"{where}no space left on the device; files written before are kept. Free some space and run again."
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc)
        return f"{where}{reason}" if where else str(exc)
    if isinstance(exc, MemoryError):
        detail = str(exc) or "an allocation failed"
        return f"not enough memory: {detail}. Use a smaller data set or batch, or a machine with more memory."
    if isinstance(exc, RecursionError):
        return "an input is nested too deeply to read (a JSON or YAML file with thousands of levels?)."
    return (f"unexpected {type(exc).__name__}: {exc} (this may be a bug in mlml; run again with MLML_DEBUG=1 for "
            "the traceback)")


def _disk_full(exc: BaseException) -> OSError | None:
    """The OSError ENOSPC/EDQUOT (full disk or quota) among ``exc`` and the exceptions it was raised from or
    while handling, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        current = current.__cause__ or current.__context__
    return None


_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint|complex|bool|str|bytes)\w*\(([^()]*)\)")


def _plain(message: str) -> str:
    """``message`` with numpy scalar reprs as a user wrote the values (``np.float64(nan)`` -> ``nan``)."""
    return _NUMPY_SCALAR.sub(r"\1", message)
