"""The inventory on a shared PostgreSQL (``inventory.url``), for several nodes.

The same tables as the SQLite file (``inventory.schema``), typed for PostgreSQL (times are
``double precision``: ``real`` would round epoch seconds to minutes). The schema version lives in
``meta`` (key ``schema_version``); migrations run under an advisory lock, so nodes starting
together migrate once. A write transaction first locks the ``changes`` row: operator verbs on
every node run one after another, each sees the rows the others committed, and every collector's
token cache notices the bump within ``token_refresh``.

A lost connection is opened again on the next call; while PostgreSQL is away every call raises
:class:`InventoryUnavailable` at once (short connect timeout) with the redacted URL, and nothing
half-done remains (the transaction is the server's).

To add a table (operator credentials...): one more entry in ``MIGRATIONS`` and in
``inventory.schema.TABLES`` (which ``jboxmon inventory migrate`` copies).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from inventory.database import InventoryUnavailable
from storage.postgres import PostgresUnavailable, connect, redact

SCHEMA_VERSION = 1
_MIGRATION_LOCK = 0x6A626F78  # "jbox": the advisory lock key nodes take to migrate one at a time

_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta(key, value) VALUES ('changes', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS boxes (
    jbox_id TEXT PRIMARY KEY,
    site TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    jbox_id TEXT NOT NULL REFERENCES boxes(jbox_id),
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS tokens_by_box ON tokens(jbox_id);
CREATE TABLE IF NOT EXISTS gateways (
    gateway_id TEXT PRIMARY KEY,
    site TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS gateway_boxes (
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id),
    jbox_id TEXT NOT NULL REFERENCES boxes(jbox_id),
    PRIMARY KEY (gateway_id, jbox_id)
);
CREATE TABLE IF NOT EXISTS gateway_tokens (
    token_hash TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id),
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS gateway_tokens_by_gateway ON gateway_tokens(gateway_id);
"""

# MIGRATIONS[n] brings an inventory at version n to n + 1 (version 1 = SQLite schema 2)
MIGRATIONS = {0: _V1}


class PostgresDatabase:
    """One connection to the shared inventory, reopened when lost."""

    def __init__(self, url: str, *, password: str | None = None, role: str = "inventory", migrated: bool = False):
        self.url = url
        self.where = redact(url)
        self.password = password
        self.role = role
        self._migrated = migrated
        self._conn: psycopg.Connection | None = None
        self._sql: dict[str, str] = {}

    def open(self) -> PostgresDatabase:
        with self._errors():
            conn = self._connection()
            if not self._migrated:
                migrate(conn, self.where)
                self._migrated = True
        return self

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            try:
                self._conn = connect(self.url, password=self.password, role=self.role)
            except PostgresUnavailable as exc:
                raise InventoryUnavailable(f"inventory: {exc}") from None
        return self._conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InventoryUnavailable(f"inventory: PostgreSQL at {self.where} failed: {first}") from None

    def _translate(self, sql: str) -> str:
        # the registry writes sqlite3's qmark placeholders; psycopg wants %s (no literal ? or % in our SQL)
        translated = self._sql.get(sql)
        if translated is None:
            translated = self._sql[sql] = sql.replace("?", "%s")
        return translated

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        with self._errors():
            return self._connection().execute(self._translate(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors(), self._connection().cursor() as cursor:
            cursor.executemany(self._translate(sql), list(rows))

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE

    @contextlib.contextmanager
    def write(self, exclusive: bool = True) -> Iterator[None]:
        """A transaction; ``exclusive``: an operator verb, which every node runs one at a time."""
        with self._errors():
            conn = self._connection()
            with conn.transaction():
                if exclusive:  # every operator verb, on every node, queues on this row lock
                    conn.execute("SELECT value FROM meta WHERE key = 'changes' FOR UPDATE")
                yield

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._errors():
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield

    def second(self) -> PostgresDatabase:
        """Another connection (last-seen writes must not wait behind a credentials read)."""
        return PostgresDatabase(self.url, password=self.password, role=f"{self.role} last-seen", migrated=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def migrate(conn: psycopg.Connection, where: str) -> int:
    """Bring the inventory to SCHEMA_VERSION in one transaction; returns the version found."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        found = 0
        if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is not None:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = row[0] if row else 0
        if found > SCHEMA_VERSION:
            raise RuntimeError(f"{where}: inventory schema {found} is newer than this jboxmon ({SCHEMA_VERSION})")
        version = found
        while version < SCHEMA_VERSION:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (SCHEMA_VERSION,),
        )
    return found


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
