"""Local state in SQLite, opened the one way every jboxmon store needs it.

The file is created 0600 in a 0700 folder BEFORE SQLite opens it (SQLite gives its -wal and -shm
files the database file's mode, so they are private from their first byte too; nothing is
chmod-ed after the fact). Its schema version lives in ``PRAGMA user_version``: a file written by a
newer jboxmon is refused rather than misread, and an older one is reported to the caller, which
migrates it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Literal


class NewerSchemaError(RuntimeError):
    """The file was written by a newer jboxmon; reading it could lose what this version does not know."""

    def __init__(self, path: Path, what: str, found: int, supported: int) -> None:
        super().__init__(f"{path}: {what} schema version {found} is newer than this jboxmon's ({supported})")


def create_private(path: Path) -> None:
    """Create ``path`` empty, 0600, in a 0700 folder, unless it exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def open_store(
    path: Path,
    *,
    what: str,
    schema_version: int,
    synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL",
) -> tuple[sqlite3.Connection, int]:
    """Open (or create) a private WAL-mode database in autocommit mode, shareable across threads.

    Returns the connection and the schema version found (0 for a new file); the caller creates or
    migrates its tables, then calls :func:`set_version`.
    """
    create_private(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=5000")
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > schema_version:
        db.close()
        raise NewerSchemaError(path, what, found, schema_version)
    return db, found


def set_version(db: sqlite3.Connection, version: int) -> None:
    db.execute(f"PRAGMA user_version={int(version)}")
