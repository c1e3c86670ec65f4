"""Alert history: every alert state change and every notification attempt, queryable by box and time
(what Alertmanager users ask for in its issue #172). SQLite, schema version in ``meta``, pruned after
``history_retention``.

Event kinds: ``alert`` (state firing | resolved | silenced | inhibited) and ``notification`` (outcome
queued | logged | sent | retry | failed | superseded | skipped), with the alert name, box, receiver and detail.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import open_store, set_version

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    state: str
    alertname: str = ""
    jbox_id: str = ""
    fingerprint: str = ""
    receiver: str = ""
    detail: dict | None = None

    def to_api(self) -> dict:
        from alerting.alerts import iso

        return {"at": iso(self.at), "kind": self.kind, "state": self.state, "alertname": self.alertname,
                "jbox_id": self.jbox_id, "fingerprint": self.fingerprint, "receiver": self.receiver,
                "detail": self.detail or {}}  # fmt: skip


class History:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> History:
        # history may lose its last second on power loss; the outbox may not
        self._db, _ = open_store(self.path, what="alert history", schema_version=SCHEMA_VERSION, synchronous="NORMAL")
        db = self._db
        set_version(db, SCHEMA_VERSION)
        db.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
            " kind TEXT NOT NULL, state TEXT NOT NULL, alertname TEXT, jbox_id TEXT, fingerprint TEXT,"
            " receiver TEXT, detail TEXT)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS events_at ON events (at)")
        db.execute("CREATE INDEX IF NOT EXISTS events_box ON events (jbox_id, at)")
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def record(self, events: list[Event]) -> None:
        if not events:
            return
        rows = [(e.at, e.kind, e.state, e.alertname, e.jbox_id, e.fingerprint, e.receiver,
                 json.dumps(e.detail) if e.detail else None) for e in events]  # fmt: skip
        with self._lock:
            if self._db is None:
                return
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO events (at, kind, state, alertname, jbox_id, fingerprint, receiver, detail)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("COMMIT")

    def query(self, *, since: float = 0.0, box: str | None = None, alertname: str | None = None,
              kind: str | None = None, limit: int = 1000) -> list[Event]:  # fmt: skip
        """Newest last; at most ``limit`` events (the newest ones)."""
        sql, args = (
            "SELECT at, kind, state, alertname, jbox_id, fingerprint, receiver, detail FROM events WHERE at >= ?",
            [since],
        )
        for column, value in (("jbox_id", box), ("alertname", alertname), ("kind", kind)):
            if value:
                sql += f" AND {column} = ?"
                args.append(value)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Event(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6] or "",
                      json.loads(r[7]) if r[7] else None) for r in reversed(rows)]  # fmt: skip

    def prune(self, before: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount
