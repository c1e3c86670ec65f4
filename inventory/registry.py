"""The token registry, which is also the fleet inventory.

One row per JBOX (id, site, region, service, last seen) and its tokens. Tokens are 256-bit random
strings shown once; only their SHA-256 is stored. A slow password hash is not needed: with that
much entropy a stolen hash cannot be brute-forced, and a fast hash keeps authentication cheap on
every request. Rotation gives the old token an expiry (the overlap) instead of deleting it.

State is versioned (``PRAGMA user_version``) so a later schema can migrate it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
TOKEN_PREFIX = "jbx_"
SERVICES = ("fcr", "afrr", "idle")

_SCHEMA = """
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


class RegistryError(ValueError):
    """An operator request the registry refuses (unknown box, box already has a token...)."""


@dataclass(frozen=True)
class Box:
    jbox_id: str
    site: str = ""
    region: str = ""
    service: str = ""
    last_seen: float | None = None
    active_tokens: int = 0
    registered_at: float | None = None  # seconds since the epoch; None when not known (not in a registry)

    def tags(self) -> dict[str, str]:
        return {"jbox_id": self.jbox_id, "site": self.site, "region": self.region, "service": self.service}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Registry:
    """Boxes and their hashed tokens in SQLite; thread-safe; time comes from ``clock``."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        # last-seen updates go through their own connection: in WAL mode they then never block
        # the authentication reads of the request path
        self._seen_lock = threading.Lock()
        self._seen_db: sqlite3.Connection | None = None

    def open(self) -> Registry:
        _create_private(self.path)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=5000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: registry schema {version} is newer than this jboxmon ({SCHEMA_VERSION})")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db = db
        self._seen_db = sqlite3.connect(self.path, check_same_thread=False)
        self._seen_db.execute("PRAGMA busy_timeout=5000")
        return self

    def close(self) -> None:
        for db in (self._db, self._seen_db):
            if db is not None:
                db.close()
        self._db = self._seen_db = None

    def __enter__(self) -> Registry:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operator verbs --------------------------------------------------------------------------

    def issue(self, jbox_id: str, *, site: str = "", region: str = "", service: str = "") -> str:
        """Register the box (or update its metadata) and return its first token, shown only now."""
        _check_box_id(jbox_id)
        if service and service not in SERVICES:
            raise RegistryError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        now = self.clock()
        with self._lock:
            if self._active_count(jbox_id, now):
                raise RegistryError(f"{jbox_id} already has an active token: use 'tokens rotate' to replace it")
            self._db.execute(
                "INSERT INTO boxes(jbox_id, site, region, service, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(jbox_id) DO UPDATE SET site=coalesce(nullif(excluded.site,''), site), "
                "region=coalesce(nullif(excluded.region,''), region), "
                "service=coalesce(nullif(excluded.service,''), service)",
                (jbox_id, site, region, service, now),
            )
            return self._new_token(jbox_id, now)

    def issue_many(self, boxes: list[Box]) -> dict[str, str]:
        """``issue`` for many boxes in one transaction (a whole fleet at commissioning)."""
        with self._lock:
            self._db.execute("BEGIN")
        try:
            tokens = {
                box.jbox_id: self.issue(box.jbox_id, site=box.site, region=box.region, service=box.service)
                for box in boxes
            }
        except Exception:
            with self._lock:
                self._db.execute("ROLLBACK")
            raise
        with self._lock:
            self._db.execute("COMMIT")
        return tokens

    def rotate(self, jbox_id: str, overlap_s: float) -> str:
        """A new token; the current ones keep working for ``overlap_s`` seconds, then expire."""
        now = self.clock()
        with self._lock:
            self._require_box(jbox_id)
            self._db.execute(
                "UPDATE tokens SET expires_at = ? WHERE jbox_id = ? AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now + overlap_s, jbox_id, now + overlap_s),
            )
            return self._new_token(jbox_id, now)

    def revoke(self, jbox_id: str) -> int:
        """Revoke every token of the box at once; returns how many were active."""
        now = self.clock()
        with self._lock:
            self._require_box(jbox_id)
            active = self._active_count(jbox_id, now)
            self._db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE jbox_id = ? AND revoked_at IS NULL", (now, jbox_id)
            )
            return active

    def boxes(self) -> list[Box]:
        """The inventory: every registered box, with its active token count, last contact and registration time."""
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT b.jbox_id, b.site, b.region, b.service, b.last_seen, "
                "(SELECT count(*) FROM tokens t WHERE t.jbox_id = b.jbox_id AND t.revoked_at IS NULL "
                " AND (t.expires_at IS NULL OR t.expires_at > ?)), b.created_at FROM boxes b ORDER BY b.jbox_id",
                (now,),
            ).fetchall()
        return [Box(*row) for row in rows]

    # -- request path ----------------------------------------------------------------------------

    def authenticate(self, token: str) -> Box | None:
        """The box a token belongs to, or None when unknown, revoked or expired."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        now = self.clock()
        with self._lock:
            row = self._db.execute(
                "SELECT t.token_hash, b.jbox_id, b.site, b.region, b.service, b.last_seen FROM tokens t "
                "JOIN boxes b USING (jbox_id) WHERE t.token_hash = ? AND t.revoked_at IS NULL "
                "AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (digest, now),
            ).fetchone()
        # the row was found by its hash; compare in constant time anyway so no timing reveals how
        # much of a guessed hash matched an index entry
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        return Box(*row[1:])

    def mark_seen(self, seen: Iterable[tuple[str, float]]) -> None:
        """Record last contact times (called in batches by the collector, not per request)."""
        with self._seen_lock, self._seen_db:  # one transaction
            self._seen_db.executemany(
                "UPDATE boxes SET last_seen = max(coalesce(last_seen, 0), ?) WHERE jbox_id = ?",
                [(when, box) for box, when in seen],
            )

    # -- helpers ---------------------------------------------------------------------------------

    def _new_token(self, jbox_id: str, now: float) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO tokens(token_hash, jbox_id, created_at) VALUES (?,?,?)", (hash_token(token), jbox_id, now)
        )
        return token

    def _active_count(self, jbox_id: str, now: float) -> int:
        return self._db.execute(
            "SELECT count(*) FROM tokens WHERE jbox_id = ? AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (jbox_id, now),
        ).fetchone()[0]

    def _require_box(self, jbox_id: str) -> None:
        if self._db.execute("SELECT 1 FROM boxes WHERE jbox_id = ?", (jbox_id,)).fetchone() is None:
            raise RegistryError(f"unknown box {jbox_id!r}: issue a token for it first")


def _create_private(path: Path) -> None:
    """Create the database file 0600 in a 0700 directory before SQLite opens it: it holds token
    hashes and the inventory. SQLite gives its -wal and -shm files the database file's mode, so
    they are private from their first byte too; nothing is chmod-ed after the fact."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _check_box_id(jbox_id: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", jbox_id):
        raise RegistryError(
            f"a box id is 1-64 letters, digits, '_', '.' or '-' starting with a letter or digit, got {jbox_id!r}"
        )
