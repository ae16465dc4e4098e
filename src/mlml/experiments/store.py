"""The results store: one SQLite database per run folder, one row per trial.

Every finished trial is committed in its own transaction as soon as it completes, so a run killed at any moment
(SIGKILL included) loses no finished trial, and re-running the same command skips them. SQLite's write-ahead log
and busy timeout let several processes (two ``mlml reproduce`` on the same folder, say) write without corrupting
the file; a trial finished twice keeps the latest record.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlml.exceptions import DataError
from mlml.record import TrialRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    method TEXT NOT NULL,
    ratio REAL NOT NULL,
    fold INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    config_hash TEXT NOT NULL,
    finished_at REAL NOT NULL,
    record TEXT NOT NULL
)
"""


_LOW_SPACE = 1 << 20  # bytes: below this, a failed write of the store is put down to a full disk


def _store_error(path: Path, exc: sqlite3.DatabaseError) -> str:
    """One line for a failed store operation: a full disk, an I/O error, or a file that is not a store."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")) or str(exc) in ("disk I/O error", "database or disk is full"):
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = None
        if name.startswith("SQLITE_FULL") or (free is not None and free < _LOW_SPACE):
            return (f"{path}: no space left on the device ({free if free is not None else 'unknown'} bytes free) "
                    "while writing the results store; the trials committed before are kept. Free some space and run "
                    "again: finished trials are skipped.")
        return (f"{path}: the disk failed while writing the results store ({exc}); the trials committed before are "
                "kept. Check the file system and run again.")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return f"{path}: the results store stayed locked by another process ({exc}); run again when it is done."
    return f"{path}: the results store is not a usable SQLite database: {exc}"


class ResultStore:
    """Trial records (JSON) keyed by trial id in ``path`` (an SQLite file, created on first use)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s)
        except sqlite3.Error as exc:
            raise DataError(f"{self.path}: cannot open the results store: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            with conn:  # one transaction, committed on exit
                yield conn
        except sqlite3.DatabaseError as exc:
            raise DataError(_store_error(self.path, exc)) from None
        finally:
            conn.close()

    def put(self, record: TrialRecord | Mapping[str, Any]) -> None:
        """Insert or replace the record of one trial (commits before returning)."""
        record = TrialRecord.from_dict(record)
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.trial_id,
                    record.dataset,
                    record.method,
                    float(record.ratio),
                    int(record.fold),
                    int(record.seed),
                    record.status,
                    record.config_hash,
                    time.time(),
                    json.dumps(record.to_dict(), allow_nan=True),
                ),
            )

    def finished_ids(self) -> set[str]:
        """Ids of the trials that completed successfully (failed ones are run again)."""
        with self._connect() as conn:
            return {row[0] for row in conn.execute("SELECT trial_id FROM trials WHERE status = 'done'")}

    def count(self) -> int:
        """How many trials the store holds (finished and failed)."""
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def records(self) -> list[TrialRecord]:
        """Every stored record (:class:`~mlml.record.TrialRecord`), in a stable order."""
        with self._connect() as conn:
            rows = conn.execute("SELECT record FROM trials ORDER BY dataset, method, ratio, seed, fold").fetchall()
        return [TrialRecord.from_dict(json.loads(row[0])) for row in rows]
