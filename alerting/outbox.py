"""The durable outbox: notifications wait here between the pipeline and the receivers.

On disk: one SQLite file (WAL, ``synchronous=FULL``), schema version in ``meta``.
- ``outbox``: one row per notification to one integration (``receiver/type[index]``) with its payload
  (Alertmanager's webhook v4 document), a unique idempotency key, attempts, next attempt time and state
  (``pending`` -> ``sent`` | ``failed`` | ``superseded``). A newer notification of the same group to the
  same integration supersedes one still waiting: it holds the group's whole current state (resolved
  alerts of the older one are carried over), so a receiver back from an outage gets one per group.
- ``nflog``: per group and integration, what was last notified (firing and resolved fingerprints, when).
  The dedup stage reads it; it is written in the **same transaction** as the rows it causes, so a crash
  never loses a notification nor queues it twice.

Crash story: a row is marked sent only after the receiver acknowledged it; a SIGKILL between the two
sends that row again after restart with the same idempotency key, so a receiver that remembers keys
(the header ``Idempotency-Key``) sees each notification once. At-least-once to the wire, once to people.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import open_store, set_version

SCHEMA_VERSION = 1


@dataclass
class Row:
    id: int
    key: str
    integration: str
    payload: dict
    created_at: float
    attempts: int


@dataclass
class LogEntry:
    firing: set[str]
    resolved: set[str]
    at: float


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> Outbox:
        self._db, _ = open_store(self.path, what="outbox", schema_version=SCHEMA_VERSION, synchronous="FULL")
        db = self._db
        set_version(db, SCHEMA_VERSION)
        db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL,"
            " integration TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
            " last_error TEXT, done_at REAL, group_key TEXT NOT NULL DEFAULT '')"
        )
        db.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, integration, next_at, id)")
        db.execute("CREATE TABLE IF NOT EXISTS nflog (key TEXT PRIMARY KEY, firing TEXT, resolved TEXT, at REAL)")
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- the pipeline side -------------------------------------------------------------------

    def enqueue(self, rows: list[tuple[str, str, dict]], log: dict[str, LogEntry], now: float) -> list[str]:
        """Queue ``(key, integration, payload)`` rows and record ``log`` entries, atomically.

        Returns the keys of the waiting rows the new ones superseded.
        """
        superseded: list[str] = []
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for key, integration, payload in rows:
                    superseded += self._supersede(integration, payload, now)
                    db.execute(
                        "INSERT OR IGNORE INTO outbox (key, integration, payload, created_at, next_at, group_key)"
                        " VALUES (?,?,?,?,?,?)",
                        (key, integration, json.dumps(payload), now, now, payload.get("groupKey", "")),
                    )
                db.executemany(
                    "INSERT OR REPLACE INTO nflog VALUES (?,?,?,?)",
                    [(k, json.dumps(sorted(e.firing)), json.dumps(sorted(e.resolved)), e.at) for k, e in log.items()],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return superseded

    def _supersede(self, integration: str, payload: dict, now: float) -> list[str]:
        """Retire waiting rows of the same group and integration; their resolved alerts move to ``payload``."""
        waiting = self._db.execute(
            "SELECT id, key, payload FROM outbox WHERE state='pending' AND integration=? AND group_key=?",
            (integration, payload.get("groupKey", "")),
        ).fetchall()
        present = {alert["fingerprint"] for alert in payload["alerts"]}
        for row_id, _, body in waiting:
            for alert in json.loads(body)["alerts"]:
                if alert["status"] == "resolved" and alert["fingerprint"] not in present:
                    payload["alerts"].append(alert)
                    present.add(alert["fingerprint"])
            self._db.execute("UPDATE outbox SET state='superseded', done_at=? WHERE id=?", (now, row_id))
        return [key for _, key, _ in waiting]

    def log_entry(self, key: str) -> LogEntry | None:
        with self._lock:
            row = self._db.execute("SELECT firing, resolved, at FROM nflog WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return LogEntry(set(json.loads(row[0])), set(json.loads(row[1])), row[2])

    # -- the sender side ---------------------------------------------------------------------

    def next_due(self, integration: str, now: float) -> Row | None:
        """The oldest pending row of one integration if it is due (rows of one integration go in order)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, key, integration, payload, created_at, attempts, next_at FROM outbox"
                " WHERE state='pending' AND integration=? ORDER BY id LIMIT 1",
                (integration,),
            ).fetchone()
        if row is None or row[6] > now:
            return None
        return Row(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    def next_time(self, integration: str) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT next_at FROM outbox WHERE state='pending' AND integration=? ORDER BY id LIMIT 1", (integration,)
            ).fetchone()
        return None if row is None else row[0]

    def mark_sent(self, row_id: int, now: float) -> None:
        # a row superseded while on the wire stays superseded: its successor goes out too
        self._update(
            "UPDATE outbox SET state=CASE state WHEN 'pending' THEN 'sent' ELSE state END, attempts=attempts+1,"
            " done_at=? WHERE id=?",
            (now, row_id),
        )

    def mark_retry(self, row_id: int, error: str, next_at: float) -> None:
        self._update(
            "UPDATE outbox SET attempts=attempts+1, last_error=?, next_at=? WHERE id=?",
            (error[:2000], next_at, row_id),
        )

    def mark_failed(self, row_id: int, error: str, now: float) -> None:
        self._update(
            "UPDATE outbox SET state=CASE state WHEN 'pending' THEN 'failed' ELSE state END,"
            " attempts=attempts+1, last_error=?, done_at=? WHERE id=?",
            (error[:2000], now, row_id),
        )

    def _update(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._db.execute(sql, args)

    # -- introspection -----------------------------------------------------------------------

    def depth(self) -> tuple[int, float | None]:
        """Pending rows and the creation time of the oldest."""
        with self._lock:
            count, oldest = self._db.execute(
                "SELECT count(*), min(created_at) FROM outbox WHERE state='pending'"
            ).fetchone()
        return count, oldest

    def pending_integrations(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT integration FROM outbox WHERE state='pending'")]

    def prune(self, before: float) -> int:
        """Forget delivered or failed rows done before ``before`` (history keeps their story)."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (before,))
            self._db.execute("DELETE FROM nflog WHERE at < ?", (before,))
            return cursor.rowcount
