"""Authentication from memory, kept in step with the registry.

The request path must not wait on SQLite: a lookup there costs little CPU but holds the event
loop while it waits for the GIL. So the cache loads every unrevoked token hash at ``start()`` and
a background thread polls the registry's ``changes`` counter every ``refresh_s`` seconds (one
indexed read), reloading the whole snapshot when it moved. Last-seen updates do not move the
counter, so they cause no reloads.

Bounds: a token revoked or rotated in another process (``jboxmon tokens ...``) stops working
within ``refresh_s`` plus one reload (10,000 boxes reload in about 50 ms). A token that is not in
the snapshot triggers a check of the counter right away (at most every ``miss_check_s``, so a
stream of bad tokens costs at most that many SQLite reads): a newly issued token works at once.
Expiry (a rotation's overlap ending) needs no reload: it is checked against the clock on every
request. A registry that cannot be read keeps the last snapshot and is retried on the next tick;
meanwhile ``problem`` says since when (the collector's /health shows it) and a miss no longer
asks the registry on the request path (a PostgreSQL that is away must not cost a request its
connect timeout): known tokens keep working, new ones wait for the registry to come back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from inventory.model import Box, Gateway, Principal
from inventory.registry import Credentials, Registry, hash_token, plausible_token
from storage.supervision import Loop, Supervisor

log = logging.getLogger(__name__)


class TokenCache:
    """``authenticate(token)`` and ``box(jbox_id)`` from memory; ``start()`` loads, ``stop()`` is idempotent."""

    def __init__(
        self,
        registry: Registry,
        *,
        refresh_s: float = 1.0,
        miss_check_s: float = 0.05,
        clock: Callable[[], float] | None = None,
        loops: Supervisor | None = None,
    ) -> None:
        self.registry = registry
        self.refresh_s = refresh_s
        self.miss_check_s = miss_check_s
        self._last_miss_check = float("-inf")
        self.clock = clock or registry.clock
        self._credentials = Credentials(-1, {}, {})
        self._covered: dict[str, int] = {}  # gateway id -> boxes it covers, for this snapshot
        self._stop = threading.Event()
        # the refresh loop is supervised: a registry that cannot be read is counted and retried
        # with backoff, and the service's /health names it until a refresh succeeds again
        self.loops = loops or Supervisor("inventory")
        self._loop: Loop | None = None
        self.reloads = 0
        self.loaded_at: float | None = None  # clock time of the snapshot in use
        self.failing_since: float | None = None  # clock time of the first failed refresh in a row
        self.last_error = ""

    def start(self) -> TokenCache:
        self.reload()
        self._stop.clear()
        self._loop = self.loops.spawn("token-refresh", self._run, stall_after_s=max(60.0, 10 * self.refresh_s))
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.stop(timeout_s=10)
            self._loop = None

    def reload(self) -> None:
        """Read the registry's credentials now (also what the background thread does on a change)."""
        self._credentials = self.registry.credentials()  # one reference swap: readers need no lock
        self._covered = {}
        self.reloads += 1
        self.loaded_at = self.clock()

    @property
    def problem(self) -> str | None:
        """Why the snapshot may be stale (the registry cannot be read), or None."""
        if self.failing_since is None:
            return None
        return (
            f"inventory unreachable since {_utc(self.failing_since)} ({self.last_error}); serving "
            f"{len(self._credentials.tokens)} tokens from the snapshot of {_utc(self.loaded_at)}"
        )

    def refresh(self) -> bool:
        """Reload when the registry changed since the last load; True when it did."""
        if self.registry.changes() == self._credentials.changes:
            return False
        self.reload()
        return True

    def authenticate(self, token: str | None) -> Principal | None:
        """The box or gateway of a valid token, else None (unknown, revoked or expired)."""
        if not token or not plausible_token(token):
            return None
        digest = hash_token(token)
        entry = self._credentials.tokens.get(digest)
        if entry is None and self._check_after_miss():
            entry = self._credentials.tokens.get(digest)
        if entry is None:
            return None
        principal, expires_at = entry
        if expires_at is not None and expires_at <= self.clock():
            return None
        # a dict probe leaks nothing useful: the attacker controls the token, not its SHA-256
        return principal

    def _check_after_miss(self) -> bool:
        """Refresh now if the registry changed (a token issued a moment ago), rate-limited."""
        now = time.monotonic()
        if now - self._last_miss_check < self.miss_check_s or self.failing_since is not None:
            return False
        self._last_miss_check = now
        try:
            return self.refresh()
        except Exception:  # the background thread logs registry trouble; here the token is just unknown
            return False

    def box(self, jbox_id: str) -> Box | None:
        """A registered box by id (its tags), for a gateway naming the box it writes for."""
        return self._credentials.boxes.get(jbox_id)

    def covered(self, gateway: Gateway) -> int:
        """How many registered boxes ``gateway`` covers (counted once per snapshot)."""
        count = self._covered.get(gateway.gateway_id)
        if count is None:
            boxes = self._credentials.boxes.values()
            count = self._covered[gateway.gateway_id] = sum(1 for box in boxes if gateway.covers(box))
        return count

    def _run(self, loop: Loop) -> None:
        # a locked file or PostgreSQL away: the last snapshot is kept and retried next tick
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception as exc:  # a locked file, PostgreSQL away: keep the last snapshot, retry next tick
                if self.failing_since is None:
                    self.failing_since = self.clock()
                    log.warning("could not refresh the token cache from %s: %s", self.registry.path, exc)
                self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            else:
                if self.failing_since is not None:
                    log.warning("the token cache reads %s again", self.registry.path)
                self.failing_since = None
            # alive either way: an unreachable inventory is reported by `problem` (the collector keeps
            # serving known tokens and says so in /health), not as a dead loop
            loop.ok()


def _utc(when: float | None) -> str:
    if when is None:
        return "never"
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
