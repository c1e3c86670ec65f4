"""Operators: the people and programs that use the control plane, each with one role.

An operator has a name, a role and tokens (256-bit random strings shown once, prefixed ``jbo_``;
only their SHA-256 is stored, as for box tokens). Box and gateway tokens live in other tables and
never authenticate here, nor do operator tokens at the collector: the two kinds never mix.

Roles, from the issue that asked for them:

- ``viewer``: read alerts, silences, history, status, metrics, audit
- ``operator``: viewer + create and expire silences, post and resolve alerts
- ``admin``: operator + reload, retention runs
- ``producer``: post alerts only (a rules evaluator, an external Prometheus)

Service credentials (``issue_service``) are operators too, issued by ``jboxmon run`` and the
services themselves at start (the rules engine's producer credential, the status page's viewer):
the token lives only in that process's memory and is revoked when the process stops. Other
processes' tokens are left alone: two rules evaluators sharing an inventory each keep their own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inventory.database import Database, open_database

if TYPE_CHECKING:
    from config.model import InventoryConfig

OPERATOR_TOKEN_PREFIX = "jbo_"
ROLES = ("viewer", "operator", "admin", "producer")
SERVICE_PREFIX = "jboxmon-"  # service credentials (jboxmon-rules, jboxmon-status): issued by the services
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class OperatorError(ValueError):
    """A request about operators the inventory refuses (unknown name, bad role...)."""


@dataclass(frozen=True)
class Operator:
    """Who a control-plane credential speaks for."""

    name: str
    role: str
    created_at: float | None = None
    active_tokens: int = 0


def hash_operator_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OperatorStore:
    """Operators and their hashed tokens in the inventory (its SQLite file or its shared PostgreSQL);
    thread-safe; ``open()``/``close()``."""

    def __init__(
        self, location: Path | str, clock: Callable[[], float] = time.time, *, password: str | None = None
    ) -> None:
        self.location = location
        self.clock = clock
        self._password = password
        self._lock = threading.Lock()
        self._db: Database | None = None

    @classmethod
    def from_config(cls, inventory: InventoryConfig, clock: Callable[[], float] = time.time) -> OperatorStore:
        """The store of the inventory the ``inventory:`` section names: its file, or its PostgreSQL."""
        password = inventory.password.resolve() if inventory.password is not None else None
        return cls(inventory.location, clock, password=password)

    def open(self) -> OperatorStore:
        self._db = open_database(self.location, password=self._password, role="operators")
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> OperatorStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- verbs -----------------------------------------------------------------------------------

    def add(self, name: str, role: str) -> str:
        """Create the operator (or change its role when it has no active token) and return its first token."""
        _check(name, role)
        if name.startswith(SERVICE_PREFIX):
            raise OperatorError(
                f"names starting with {SERVICE_PREFIX!r} are the services' own credentials, got {name!r}"
            )
        now = self.clock()
        with self._write():
            if self._active(name, now):
                raise OperatorError(f"operator {name!r} already has an active token: use 'users rotate' to replace it")
            self._db.execute(
                "INSERT INTO operators(name, role, created_at) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET role = excluded.role",
                (name, role, now),
            )
            return self._new_token(name, now)

    def rotate(self, name: str, overlap_s: float = 0.0) -> str:
        """A new token; the current ones keep working for ``overlap_s`` seconds (0: stop now)."""
        now = self.clock()
        with self._write():
            self._require(name)
            self._db.execute(
                "UPDATE operator_tokens SET expires_at = ? WHERE name = ? AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now + overlap_s, name, now + overlap_s),
            )
            return self._new_token(name, now)

    def revoke(self, name: str) -> int:
        """Revoke every token of the operator; returns how many were active."""
        now = self.clock()
        with self._write():
            self._require(name)
            active = self._active(name, now)
            self._db.execute(
                "UPDATE operator_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name)
            )
            return active

    def issue_service(self, name: str, role: str) -> str:
        """A new token for the service credential ``name`` (created when missing), for this process."""
        _check(name, role)
        now = self.clock()
        with self._write():
            self._db.execute(
                "INSERT INTO operators(name, role, created_at) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET role = excluded.role",
                (name, role, now),
            )
            return self._new_token(name, now)

    def revoke_token(self, token: str) -> bool:
        """Revoke one token (a service's own, at stop); True when it was active."""
        with self._write():
            cursor = self._db.execute(
                "UPDATE operator_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                (self.clock(), hash_operator_token(token)),
            )
            return cursor.rowcount > 0

    # -- reading ---------------------------------------------------------------------------------

    def list(self) -> list[Operator]:
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT o.name, o.role, o.created_at, (SELECT count(*) FROM operator_tokens t WHERE t.name = o.name "
                "AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)) FROM operators o "
                "ORDER BY o.name",
                (now,),
            ).fetchall()
        return [Operator(*row) for row in rows]

    def get(self, name: str) -> Operator | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, created_at FROM operators WHERE name = ?", (name,)).fetchone()
        return Operator(*row) if row else None

    def authenticate(self, token: str | None, name: str | None = None) -> Operator | None:
        """The operator of a valid token (and of that ``name``, for Basic auth), else None."""
        if not token or not token.startswith(OPERATOR_TOKEN_PREFIX) or len(token) > 200:
            return None  # a box token, or garbage: never looked up here
        digest = hash_operator_token(token)
        with self._lock:
            row = self._db.execute(
                "SELECT t.token_hash, o.name, o.role, o.created_at FROM operator_tokens t JOIN operators o "
                "USING (name) WHERE t.token_hash = ? AND t.revoked_at IS NULL "
                "AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (digest, self.clock()),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        if name is not None and name != row[1]:
            return None  # Basic auth: the user name must be the token's operator
        return Operator(*row[1:])

    # -- helpers ---------------------------------------------------------------------------------

    def _write(self):
        return _Transaction(self._lock, self._db)

    def _new_token(self, name: str, now: float) -> str:
        token = OPERATOR_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO operator_tokens(token_hash, name, created_at) VALUES (?,?,?)",
            (hash_operator_token(token), name, now),
        )
        return token

    def _active(self, name: str, now: float) -> int:
        return self._db.execute(
            "SELECT count(*) FROM operator_tokens WHERE name = ? AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (name, now),
        ).fetchone()[0]

    def _require(self, name: str) -> None:
        if self._db.execute("SELECT 1 FROM operators WHERE name = ?", (name,)).fetchone() is None:
            raise OperatorError(f"unknown operator {name!r}: add it first (jboxmon users add {name} --role ...)")


class _Transaction:
    """``with``: the store's lock and one write transaction (on either engine), rolled back on error."""

    def __init__(self, lock: threading.Lock, db: Database) -> None:
        self.lock, self.db = lock, db
        self._transaction = None

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            self._transaction = self.db.write()  # operator verbs on every node, one at a time
            self._transaction.__enter__()
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, kind, value, traceback) -> None:
        try:
            self._transaction.__exit__(kind, value, traceback)
        finally:
            self.lock.release()


def _check(name: str, role: str) -> None:
    if not _NAME.fullmatch(name):
        raise OperatorError(
            f"an operator name is 1-64 letters, digits, '_', '.', '@' or '-' starting with a letter or digit, "
            f"got {name!r}"
        )
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
