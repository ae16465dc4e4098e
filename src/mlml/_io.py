"""Files that appear whole or not at all, and outputs that never overwrite inputs.

Every file mlml writes goes through :func:`atomic_open` (or the helpers on top of it): the content is written to
a temporary file beside the target, flushed to disk, then renamed over the target (``os.replace`` is atomic on
one file system). A run killed mid-write, or a full disk, leaves the previous file as it was.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from mlml.exceptions import MLMLError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path``, on an exception
    it is removed and ``path`` is left untouched. ``mode`` is ``"w"`` (text; ``encoding`` defaults to UTF-8)
    or ``"wb"``; a ``.gz`` path is gzip-compressed. The parent folder is created."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes ('w' or 'wb'); got mode {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if path.suffix == ".gz" else raw
            if mode == "wb":
                yield binary
            else:
                kwargs.setdefault("encoding", "utf-8")
                text = io.TextIOWrapper(binary, **kwargs)
                yield text
                text.flush()
                text.detach()
            if binary is not raw:
                binary.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def check_outputs(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Refuse outputs that would overwrite an input or each other, before anything is written.

    Args:
        outputs: what a command will write, by the name of its flag (``"--out"``); None values are skipped.
        inputs: what it reads, by flag name.

    Raises:
        MLMLError: naming both flags and the path.
    """

    def key(value: Any) -> str:
        return os.path.normcase(os.path.realpath(os.fspath(value)))

    seen: dict[str, str] = {}
    for flag, value in inputs.items():
        if value is not None:
            seen.setdefault(key(value), flag)
    for flag, value in outputs.items():
        if value is None:
            continue
        other = seen.get(key(value))
        if other is not None:
            role = "reads" if other in inputs else "also writes"
            raise MLMLError(
                f"{flag} {value} is the file this command {role} as {other}; refusing to overwrite it. "
                "Choose another output path."
            )
        seen[key(value)] = flag
