"""Alert state that outlives the process (SQLite, versioned): a restart in the middle of a ``for``
keeps its timer, and a firing alert is not announced twice."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from rules.state import AlertState
from storage.sqlite import open_store, set_version

SCHEMA_VERSION = 1


class StateStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> StateStore:
        db, _ = open_store(self.path, what="alert state", schema_version=SCHEMA_VERSION)
        db.execute(
            "CREATE TABLE IF NOT EXISTS alert_state (rule TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, "
            "active_since INTEGER NOT NULL, fired_at INTEGER, last_active INTEGER NOT NULL, value REAL, "
            "cleared_since INTEGER, "
            "PRIMARY KEY (rule, key))"
        )
        set_version(db, SCHEMA_VERSION)
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def load(self, rule: str) -> dict[str, AlertState]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, state, active_since, fired_at, last_active, value, cleared_since "
                "FROM alert_state WHERE rule = ?",
                (rule,),
            ).fetchall()
        return {row[0]: AlertState(*row) for row in rows}

    def save(self, states: dict[str, dict[str, AlertState]]) -> None:
        """Replace the stored states of the given rules in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._replace(states)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _replace(self, states: dict[str, dict[str, AlertState]]) -> None:
        for rule, alerts in states.items():
            self._db.execute("DELETE FROM alert_state WHERE rule = ?", (rule,))
            self._db.executemany(
                "INSERT INTO alert_state VALUES (?,?,?,?,?,?,?,?)",
                [
                    (rule, a.key, a.state, a.active_since, a.fired_at, a.last_active, a.value, a.cleared_since)
                    for a in alerts.values()
                ],
            )
