"""Exactly one retention runner at a time: a lease.

Two layers. On one host, an exclusive ``flock`` on ``<state_dir>/runner.lock`` is strict, and the
kernel drops it when the process dies (SIGKILL included). Across hosts sharing an archive, a lease
object ``_lease.json`` in the store names its owner and an expiry; a runner takes it when it is
absent or expired, reads it back after a pause to see that its own write won, and checks it again
before every unit and delete (:meth:`Lease.check`), so a runner that lost its lease stops before
deleting anything. Not a compare-and-swap: a write slower than the pause could still let two win.
Format version 1: ``{"version": 1, "owner": "host:pid:nonce", "expires_at": <unix seconds>}``.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from retention.store import ArchiveStore

LEASE_PATH = "_lease.json"
VERSION = 1
SETTLE_S = 2.0


class LeaseHeld(Exception):
    """Another runner holds the lease; the message says who and until when."""

    retryable = True


class Lease:
    def __init__(
        self, store: ArchiveStore, state_dir: Path, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.state_dir = Path(state_dir)
        self.ttl_s = ttl_s
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._fd: int | None = None
        self._expires_at = 0.0
        self.settle_s = 0.0 if store.local else SETTLE_S

    def acquire(self) -> Lease:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.state_dir / "runner.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LeaseHeld(f"another retention runner is running on this host ({holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.owner.encode(), 0)
        self._fd = fd
        try:
            self._take_shared()
        except BaseException:
            self.release()
            raise
        return self

    def _take_shared(self) -> None:
        current = self._read()
        now = self.clock()
        # a lease of this host while we hold the host lock belongs to a runner that died (SIGKILL)
        stale = current is not None and current["owner"].split(":")[0] == socket.gethostname()
        if current and current["owner"] != self.owner and current["expires_at"] > now and not stale:
            raise LeaseHeld(
                f"another retention runner holds the lease: {current['owner']} until "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(current['expires_at']))}"
            )
        self._write(now)
        # two hosts that both found no lease both write one: after a pause longer than a write takes,
        # only the last writer reads its own name back (S3 reads are strongly consistent)
        time.sleep(self.settle_s)
        if (self._read() or {}).get("owner") != self.owner:
            raise LeaseHeld("another retention runner took the lease at the same moment")

    def check(self) -> None:
        """Before a destructive step: still ours? Renew when half the lease has run out."""
        current = self._read()
        if not current or current["owner"] != self.owner:
            holder = current["owner"] if current else "nobody"
            raise LeaseHeld(f"the retention lease was lost (now held by {holder}); stopping before deleting")
        if self._expires_at - self.clock() < self.ttl_s / 2:
            self._write(self.clock())

    def release(self) -> None:
        """Idempotent; gives the shared lease back only if it is still ours."""
        if self._fd is None:
            return
        try:
            current = self._read()
            if current and current.get("owner") == self.owner:
                self.store.delete(LEASE_PATH)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _read(self) -> dict | None:
        data = self.store.read_bytes(LEASE_PATH)
        if not data:
            return None
        try:
            document = json.loads(data)
        except ValueError:
            return None  # a torn lease from a crashed writer is no lease
        return document if document.get("version") == VERSION else None

    def _write(self, now: float) -> None:
        self._expires_at = now + self.ttl_s
        document = {"version": VERSION, "owner": self.owner, "expires_at": self._expires_at}
        self.store.write_bytes(LEASE_PATH, json.dumps(document).encode())

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
