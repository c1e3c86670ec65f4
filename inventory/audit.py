"""The audit log of the control plane: who changed what, when, and from which address.

Every silence created or expired, alert posted or resolved by a person, reload, and credential
issued, rotated or revoked is one row in the inventory file (so every service and every node that
shares the inventory writes to the same log, and ``jboxmon audit`` reads it). ``details`` is a JSON
object saying what changed (the silence's matchers and end, the alert's labels...). Writing a row
never fails the request it records: a failure is logged, loudly.
"""

from __future__ import annotations

import getpass
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inventory.database import Database, open_database

if TYPE_CHECKING:
    from config.model import InventoryConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditEvent:
    at: float
    actor: str  # an operator name, or "anonymous@<address>" when auth is off
    address: str  # the client's address, or "local" for a command run on the machine
    action: str  # e.g. silence.create, silence.expire, alert.post, alert.resolve, reload, token.issue
    target: str  # the silence id, the alert name, the box or operator, the service reloaded
    details: dict

    def to_api(self) -> dict:
        row = asdict(self)
        row["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        return row


def local_actor() -> str:
    """Who runs a command on this machine (``jboxmon tokens``, ``jboxmon users``): the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a bare container)
        return "unknown-local-user"


class AuditLog:
    """``record()`` and ``query()`` on the inventory's ``audit`` table; thread-safe; opens lazily."""

    def __init__(
        self, location: Path | str, clock: Callable[[], float] = time.time, *, password: str | None = None
    ) -> None:
        self.location = location
        self.clock = clock
        self._password = password
        self._lock = threading.Lock()
        self._db: Database | None = None

    @classmethod
    def from_config(cls, inventory: InventoryConfig, clock: Callable[[], float] = time.time) -> AuditLog:
        """The store of the inventory the ``inventory:`` section names: its file, or its PostgreSQL."""
        password = inventory.password.resolve() if inventory.password is not None else None
        return cls(inventory.location, clock, password=password)

    def _conn(self) -> Database:
        if self._db is None:
            self._db = open_database(self.location, password=self._password, role="audit")
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def record(self, actor: str, address: str, action: str, target: str, **details: object) -> None:
        event = AuditEvent(self.clock(), actor, address, action, target, details)
        log.info("audit: %s from %s: %s %s %s", actor, address, action, target, json.dumps(details, default=str))
        try:
            with self._lock:
                self._conn().execute(
                    "INSERT INTO audit(at, actor, address, action, target, details) VALUES (?,?,?,?,?,?)",
                    (event.at, actor, address, action, target, json.dumps(details, sort_keys=True, default=str)),
                )
        except Exception:  # the change itself is done: losing its record must be loud, not fatal
            log.exception("AUDIT RECORD LOST (%s %s %s by %s)", action, target, details, actor)

    def query(
        self, *, since: float = 0.0, actor: str | None = None, action: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        """Newest first; ``action`` matches a prefix (``silence`` finds silence.create and .expire)."""
        sql = "SELECT at, actor, address, action, target, details FROM audit WHERE at >= ?"
        params: list[object] = [since]
        if actor:
            sql += " AND actor = ?"
            params.append(actor)
        if action:
            sql += " AND (action = ? OR action LIKE ?)"
            params += [action, action + ".%"]
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(max(1, min(limit, 100_000)))
        with self._lock:
            rows = self._conn().execute(sql, params).fetchall()
        return [AuditEvent(*row[:5], json.loads(row[5])) for row in rows]
