"""Alert history: every alert state change and every notification attempt, queryable by box and time
(what Alertmanager users ask for in its issue #172). SQLite, schema version in ``meta``, pruned after
``history_retention``.

Event kinds: ``alert`` (state firing | resolved | silenced | inhibited), ``notification`` (outcome
queued | logged | sent | retry | failed | superseded | skipped) and ``silence`` (created | updated |
expired), with the alert name, box, receiver and detail.

A notification is about many alerts and boxes: its detail carries the ``group`` key, ``alertnames`` and
``boxes``, and the ``event_labels`` table (schema version 2) indexes those names and boxes, so the
``box`` and ``alertname`` filters find the notifications that told people about them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import open_store, set_version

SCHEMA_VERSION = 2  # 2: event_labels (a version 1 file gains the table on open)


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

        detail = self.detail or {}
        return {"at": iso(self.at), "kind": self.kind, "state": self.state, "alertname": self.alertname,
                "jbox_id": self.jbox_id, "fingerprint": self.fingerprint, "receiver": self.receiver,
                "groupKey": detail.get("group", ""),
                "alertnames": detail.get("alertnames", [self.alertname] if self.alertname else []),
                "boxes": detail.get("boxes", [self.jbox_id] if self.jbox_id else []),
                "detail": detail}  # fmt: skip

    def subjects(self) -> list[tuple[str, str]]:
        """(label, value) rows for ``event_labels``: the names and boxes a notification was about."""
        detail = self.detail or {}
        return [("alertname", n) for n in detail.get("alertnames", [])] + [
            ("jbox_id", b) for b in detail.get("boxes", [])
        ]


def subjects_detail(alerts: list[dict]) -> dict:
    """``alertnames`` and ``boxes`` (sorted, unique) of webhook-shaped alerts, for a notification's detail."""
    names = sorted({a["labels"].get("alertname", "") for a in alerts} - {""})
    boxes = sorted({a["labels"].get("jbox_id", "") for a in alerts} - {""})
    return {"alertnames": names, "boxes": boxes}


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
        db.execute("CREATE TABLE IF NOT EXISTS event_labels (event_id INTEGER NOT NULL, name TEXT NOT NULL,"
                   " value TEXT NOT NULL)")  # fmt: skip
        db.execute("CREATE INDEX IF NOT EXISTS event_labels_value ON event_labels (name, value, event_id)")
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
            # one writer inside one transaction: the batch's ids are consecutive, ending at the last one
            first = self._db.execute("SELECT last_insert_rowid()").fetchone()[0] - len(rows) + 1
            labels = [(first + i, n, v) for i, event in enumerate(events) for n, v in event.subjects()]
            if labels:
                self._db.executemany("INSERT INTO event_labels VALUES (?,?,?)", labels)
            self._db.execute("COMMIT")

    def query(self, *, since: float = 0.0, box: str | None = None, alertname: str | None = None,
              kind: str | None = None, limit: int = 1000) -> list[Event]:  # fmt: skip
        """Newest last; at most ``limit`` events (the newest ones)."""
        sql, args = (
            "SELECT at, kind, state, alertname, jbox_id, fingerprint, receiver, detail FROM events WHERE at >= ?",
            [since],
        )
        for column, value in (("jbox_id", box), ("alertname", alertname)):
            if value:  # the event's own column, or a name or box a notification was about
                sql += f" AND ({column} = ? OR id IN (SELECT event_id FROM event_labels WHERE name = ? AND value = ?))"
                args += [value, column, value]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Event(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6] or "",
                      json.loads(r[7]) if r[7] else None) for r in reversed(rows)]  # fmt: skip

    def prune(self, before: float) -> int:
        with self._lock:
            count = self._db.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount
            self._db.execute(
                "DELETE FROM event_labels WHERE event_id < (SELECT COALESCE(MIN(id), 1 << 62) FROM events)"
            )
            return count
