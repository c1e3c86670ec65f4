"""Exactly one retention runner at a time across nodes, by a PostgreSQL advisory lock.

When the inventory is on PostgreSQL (``inventory.url``), every node already reaches one server
that can arbitrate: ``pg_try_advisory_lock`` is a true compare-and-swap, held by the runner's own
session. The server frees it when that session ends, whatever ends it (a clean exit, SIGKILL, a
host that vanished: TCP keepalives close the session within seconds), so no expiry is needed.
:meth:`check` before every destructive step asks the server again through that session: a runner
whose connection was cut (and so may have lost the lock) stops before deleting anything.
A runner that finds the lock taken says who holds it (``pg_stat_activity.application_name`` of
the holding session names host and pid). Same interface as :class:`retention.lease.Lease`.
"""

from __future__ import annotations

import datetime as dt

from retention.lease import LeaseHeld
from storage.postgres import PostgresUnavailable, connect

LOCK_KEY = 0x6A627274  # "jbrt"; below 2**31 so pg_locks shows it whole in objid


class AdvisoryLock:
    def __init__(self, url: str, *, password: str | None = None, key: int = LOCK_KEY) -> None:
        self.url = url
        self.password = password
        self.key = key
        self._conn = None

    def acquire(self) -> AdvisoryLock:
        try:
            conn = connect(self.url, password=self.password, role="retention runner")
        except PostgresUnavailable as exc:
            raise LeaseHeld(f"cannot take the retention lock: {exc}") from None
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
            holder = self._holder(conn)
            conn.close()
            raise LeaseHeld(f"another retention runner holds the PostgreSQL advisory lock: {holder}")
        self._conn = conn
        return self

    def _holder(self, conn) -> str:
        row = conn.execute(
            "SELECT a.application_name, a.client_addr, a.backend_start, a.pid FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1",
            (self.key,),
        ).fetchone()
        if row is None:
            return "a session that just ended (try again)"
        name, address, since, pid = row
        started = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if since else "?"
        return f"{name or 'unnamed session'} (from {address or 'local'}, backend pid {pid}, connected since {started})"

    def check(self) -> None:
        """Before a destructive step: is the session (and so the lock) still alive?"""
        try:
            held = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
                "AND classid = 0 AND objid = %s AND objsubid = 1",
                (self.key,),
            ).fetchone()[0]
        except Exception as exc:  # the connection is gone: the server has released the lock
            raise LeaseHeld(f"the retention lock was lost ({exc}); stopping before deleting") from None
        if not held:
            raise LeaseHeld("the retention lock was lost; stopping before deleting")

    def release(self) -> None:
        """Idempotent: closing the session releases the lock."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> AdvisoryLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
