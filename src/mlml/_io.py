"""Files that appear whole or not at all, and outputs that never overwrite inputs or anything but a file.

Every file mlml writes goes through :func:`atomic_open` (or the helpers on top of it): the content is written to
a temporary file beside the target, flushed to disk, then renamed over the target (``os.replace`` is atomic on
one file system). A run killed mid-write, or a full disk, leaves the previous file as it was.

What the writer may replace (:func:`output_target`): a path that does not exist yet, or a regular file. A
symbolic link is written through: its final target is replaced (a new file where the link dangles) and the link
stays. Anything else -- a folder, a device, a FIFO, a socket -- is refused with one line before a byte is
written. A new file gets the permissions ``0o666`` less the umask, as ``open()`` would give it; a replaced file
keeps its own. Files written inside :func:`atomic_group` appear together: the renames wait for the group's end,
and an error anywhere in the group leaves every target as it was.
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import io
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from mlml.exceptions import MLMLError

_GROUP: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar("atomic_group", default=None)

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def output_target(path: str | os.PathLike[str], what: str | None = None) -> Path:
    """The file that writing ``path`` replaces or creates: ``path`` itself, or a symbolic link's final target.

    Checks, before anything is written, that the target is a regular file or a new path whose nearest existing
    parent is a folder. ``what`` names the path in messages (a flag such as ``"--out"``).

    Raises:
        MLMLError: the target is a folder, a device, a FIFO or a socket, or a parent of a new path is not a folder.
    """
    shown = f"{what} {path}" if what else str(path)
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise MLMLError(f"{shown}: cannot be written ({exc.strerror}).") from None
    if mode is not None:
        for test, kind in _KINDS:
            if test(mode):
                raise MLMLError(f"{shown} is {kind}, not a regular file; mlml writes only to a regular file or a "
                                "new path. Choose another output path.")
        return target
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise MLMLError(f"{shown}: {parent} is not a folder, so the file cannot be created there.")
    return target


def _new_file_mode() -> int:
    """``0o666`` less the process's umask (read without changing it where Linux shows it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_group() -> Iterator[None]:
    """Make every :func:`atomic_open` inside the block appear together at its end (e.g. a command's two output
    files): on an error, none of them is replaced. Groups nest into the outermost one."""
    if _GROUP.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _GROUP.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _GROUP.reset(token)
    for tmp, target in pending:
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path`` (see the module
    docstring for what may be replaced), on an exception it is removed and ``path`` is left untouched. ``mode``
    is ``"w"`` (text; ``encoding`` defaults to UTF-8) or ``"wb"``; a ``.gz`` path is gzip-compressed. Missing
    parent folders are created."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes ('w' or 'wb'); got mode {mode!r}")
    target = output_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        keep = stat.S_IMODE(os.stat(target).st_mode) if target.exists() else _new_file_mode()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise MLMLError(f"{path}: cannot be written ({exc.strerror}).") from None
    tmp = Path(tmp_name)
    group = _GROUP.get()
    try:
        with os.fdopen(fd, "wb") as raw:
            os.fchmod(raw.fileno(), keep)
            binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if target.suffix == ".gz" else raw
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
        output_target(path)  # still a file or a new path: nothing was put there meanwhile
        if group is None:
            os.replace(tmp, target)
        else:
            group.append((tmp, target))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def check_outputs(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Refuse outputs that would overwrite an input or each other, or that name something other than a regular
    file or a new path (:func:`output_target`), before anything is written.

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
        output_target(value, flag)
        other = seen.get(key(value))
        if other is not None:
            role = "reads" if other in inputs else "also writes"
            raise MLMLError(
                f"{flag} {value} is the file this command {role} as {other}; refusing to overwrite it. "
                "Choose another output path."
            )
        seen[key(value)] = flag
