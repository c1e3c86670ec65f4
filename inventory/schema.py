"""The registry's SQLite schema, its version (``PRAGMA user_version``) and the migrations to it.

Version 1: boxes and their tokens. Version 2 adds site gateways with their own tokens, and a
``changes`` counter that every operator verb bumps in its transaction, so an in-memory token
cache can tell a credential change from the collector's own last-seen updates.
Version 3 adds operators (people and programs using the control plane, each with one role) with
their own hashed tokens, kept apart from box and gateway tokens, and the audit log of control-plane
changes (who, when, from where, what).
Migrations run in one transaction on open; a registry newer than this code is refused.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 3

_V1 = """
CREATE TABLE IF NOT EXISTS boxes (
    jbox_id TEXT PRIMARY KEY,
    site TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    last_seen REAL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    jbox_id TEXT NOT NULL REFERENCES boxes(jbox_id),
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS tokens_by_box ON tokens(jbox_id);
"""

_V2 = """
CREATE TABLE IF NOT EXISTS gateways (
    gateway_id TEXT PRIMARY KEY,
    site TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    last_seen REAL
);
CREATE TABLE IF NOT EXISTS gateway_boxes (
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id),
    jbox_id TEXT NOT NULL REFERENCES boxes(jbox_id),
    PRIMARY KEY (gateway_id, jbox_id)
);
CREATE TABLE IF NOT EXISTS gateway_tokens (
    token_hash TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id),
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS gateway_tokens_by_gateway ON gateway_tokens(gateway_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('changes', 0);
"""

_V3 = """
CREATE TABLE IF NOT EXISTS operators (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES operators(name),
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS operator_tokens_by_name ON operator_tokens(name);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit(at)
"""

# MIGRATIONS[n] brings a registry at version n to n + 1
MIGRATIONS = {0: _V1, 1: _V2, 2: _V3}

# Every table of the inventory with its columns, parents before children: what
# ``jboxmon inventory migrate`` copies from a SQLite file to PostgreSQL (``meta`` is not copied:
# the target's ``changes`` counter is bumped instead). A new table goes here and in both schemas.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("boxes", ("jbox_id", "site", "region", "service", "created_at", "last_seen")),
    ("tokens", ("token_hash", "jbox_id", "created_at", "expires_at", "revoked_at")),
    ("gateways", ("gateway_id", "site", "created_at", "last_seen")),
    ("gateway_boxes", ("gateway_id", "jbox_id")),
    ("gateway_tokens", ("token_hash", "gateway_id", "created_at", "expires_at", "revoked_at")),
    ("operators", ("name", "role", "created_at")),
    ("operator_tokens", ("token_hash", "name", "created_at", "expires_at", "revoked_at")),
    ("audit", ("at", "actor", "address", "action", "target", "details")),  # ids are the target's own, in order
)


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring ``db`` to SCHEMA_VERSION in one transaction; returns the version found."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise RuntimeError(f"{path}: registry schema {found} is newer than this jboxmon ({SCHEMA_VERSION})")
    if found == SCHEMA_VERSION:
        return found
    db.execute("BEGIN IMMEDIATE")
    try:
        # read again under the write lock: another process may have migrated meanwhile
        version = db.execute("PRAGMA user_version").fetchone()[0]
        while version < SCHEMA_VERSION:
            for statement in _statements(MIGRATIONS[version]):
                db.execute(statement)
            version += 1
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return found


def _statements(script: str) -> list[str]:
    # executescript() would commit the open transaction; run the statements one by one instead
    return [statement.strip() for statement in script.split(";") if statement.strip()]
