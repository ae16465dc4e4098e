"""What the ``mlml`` verbs share: loading a SOURCE with the filter flags, naming the files it reads (for the
output checks), refusing an output folder that cannot be made, and rewriting a library error about a parameter
so that it names the flag that set it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlml.exceptions import MLMLError


def _load_source(args: argparse.Namespace) -> Any:
    from mlml.data import load

    return load(
        args.source, min_labels=args.min_labels, min_label_frequency=args.min_label_frequency,
        drop_empty=args.drop_empty, drop_duplicates=args.drop_duplicates,
        check_images=args.check_images or args.skip_bad, skip_bad=args.skip_bad,
    )


def _source_files(source: str, dataset: Any = None) -> dict[str, str]:
    """The files a SOURCE reads (its path arguments and the files its loader lists), by a name for messages."""
    from mlml.data.sources import parse_source

    _, args = parse_source(source)
    files = list(args) + list((getattr(dataset, "provenance", None) or {}).get("files", []))
    return {f"SOURCE file {path}": path for path in files if path and not os.path.isdir(path)}


@contextmanager
def _flag_names(flags: dict[str, str], owner: str) -> Iterator[None]:
    """Re-raise an ``MLMLError`` about ``The 'key' parameter of OWNER`` as one about the flag that set it."""
    try:
        yield
    except MLMLError as exc:
        message = str(exc)
        for key, flag in flags.items():
            message = message.replace(f"The {key!r} parameter of {owner}", flag)
        if message == str(exc):
            raise
        raise MLMLError(message) from None


def _check_folder(flag: str, path: Path, what: str) -> None:
    """Refuse an output folder that cannot be made (a file in its place or above it) before any work is done."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise MLMLError(f"{flag} {path}: {folder} is a file; {what}.")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise MLMLError(f"{flag} {path}: {folder} is not writable; {what}.")
            return
