"""Where the registry keeps its rows: the embedded SQLite file, or a shared PostgreSQL.

The registry writes its SQL once, with ``?`` placeholders and statements both engines accept; a
:class:`Database` runs it on one engine and owns what differs: opening and migrating, what a write
transaction locks (SQLite: the file; PostgreSQL: the ``changes`` row, so operator verbs on several
nodes run one after another and each sees the others' rows), and a consistent read snapshot.
:func:`open_database` picks the engine from the location: a ``postgresql://`` URL or a file path.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from inventory.schema import migrate
from storage.sqlite import create_private

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class InventoryUnavailable(RuntimeError):
    """The inventory's database cannot be reached; nothing was changed, and retrying can help."""

    retryable = True


class Database(Protocol):
    """One connection to the inventory's engine, used under the registry's lock."""

    where: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @property
    def in_transaction(self) -> bool: ...

    def write(self, exclusive: bool = True) -> contextlib.AbstractContextManager[None]: ...

    def read(self) -> contextlib.AbstractContextManager[None]: ...

    def close(self) -> None: ...


def is_postgres(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_database(location: Path | str, *, password: str | None = None, role: str = "inventory") -> Database:
    """A migrated connection to the inventory at ``location`` (a file path or a postgresql:// URL)."""
    if is_postgres(location):
        from inventory.postgres import PostgresDatabase

        return PostgresDatabase(str(location), password=password, role=role).open()
    return SqliteDatabase(Path(location)).open()


class SqliteDatabase:
    """The embedded default: one private WAL-mode file per node."""

    def __init__(self, path: Path, *, migrated: bool = False) -> None:
        self.path = path
        self.where = str(path)
        self._migrated = migrated
        self._db: sqlite3.Connection | None = None

    def open(self) -> SqliteDatabase:
        create_private(self.path)  # token hashes: private before SQLite writes a byte
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=5000")
        if not self._migrated:
            try:
                migrate(db, self.path)
            except BaseException:
                db.close()
                raise
        self._db = db
        return self

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    @contextlib.contextmanager
    def write(self, exclusive: bool = True) -> Iterator[None]:
        # IMMEDIATE takes the write lock now (any write does: the file has one lock): checks made
        # inside hold until COMMIT
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        # a deferred transaction: all reads see one snapshot of the WAL
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def second(self) -> SqliteDatabase:
        """Another connection to the same file (last-seen writes, which must not block auth reads)."""
        return SqliteDatabase(self.path, migrated=True).open()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
