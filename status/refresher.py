"""The background refresher: every ``refresh`` seconds, one round of checks, run concurrently, whose
result replaces the :class:`Snapshot` the page renders. The page only ever reads the last snapshot,
so a slow or hung upstream never holds a request.

A round waits at most ``timeout`` (plus a little grace) for all its checks together. A check still
running then is reported as such (a component *down*: "no answer within 2s"), and is not started
again while it runs: a service that accepts connections and never answers occupies one thread, not
one more per round. ``requests``' own timeout ends that thread eventually.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from status.model import DOWN, AlertsView, ComponentStatus, FleetView, Snapshot
from storage.supervision import Loop, Supervisor

log = logging.getLogger(__name__)
GRACE_S = 0.5  # on top of the HTTP timeout: a check that just made it is not reported as timed out


class Refresher:
    """Runs ``checks`` (component name -> callable), ``alerts`` and ``fleet`` in rounds.

    ``fleet`` returns ``(FleetView, boxes by id)``; ``urls`` names each component's address.
    ``on_snapshot`` gets each new snapshot and the round's duration (the metrics).
    Constructor stores; ``start()`` runs; ``stop()`` is idempotent.
    """

    def __init__(
        self,
        checks: dict[str, Callable[[], ComponentStatus]],
        alerts: Callable[[], AlertsView],
        fleet: Callable[[], tuple[FleetView, dict]],
        *,
        interval_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
        on_snapshot: Callable[[Snapshot, float], None] | None = None,
        urls: dict[str, str] | None = None,
        loops: Supervisor | None = None,
    ) -> None:
        self.checks = checks
        self.urls = urls or {}
        self.alerts = alerts
        self.fleet = fleet
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.on_snapshot = on_snapshot
        self._snapshot: Snapshot | None = None
        self._running: dict[str, Future] = {}  # checks of an earlier round still waiting on their upstream
        self._lock = threading.Lock()
        self._round = threading.Lock()  # one round at a time, whoever calls refresh_once
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        # supervised: a round that raises is counted and the loop restarted with backoff; a round
        # that never ends makes /health name it (storage/supervision.py)
        self.loops = loops or Supervisor("status")
        self._loop: Loop | None = None

    @property
    def snapshot(self) -> Snapshot | None:
        with self._lock:
            return self._snapshot

    def start(self) -> Refresher:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=len(self.checks) + 2, thread_name_prefix="status-check")
        stall = 3 * (self.interval_s + self.timeout_s + GRACE_S)  # a round lasts at most timeout + grace
        self._loop = self.loops.spawn("status-refresher", self._run, stall_after_s=stall)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.stop(timeout_s=self.timeout_s + 5)
            self._loop = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)  # a hung check is abandoned, not awaited
            self._pool = None

    def _run(self, loop: Loop) -> None:
        # a round that raises: the page shows the old snapshot going stale, the supervisor retries
        while not self._stop.is_set():
            self.refresh_once()
            loop.ok()
            self._stop.wait(self.interval_s)

    def refresh_once(self) -> Snapshot:
        """One round, now: returns (and publishes) the new snapshot."""
        with self._round:
            return self._refresh()

    def _refresh(self) -> Snapshot:
        own_pool = self._pool is None
        pool = self._pool or ThreadPoolExecutor(max_workers=len(self.checks) + 2)
        started = time.monotonic()
        try:
            jobs = {name: self._submit(pool, name, check) for name, check in self.checks.items()}
            jobs["alerts"] = self._submit(pool, "alerts", self.alerts)
            jobs["fleet"] = self._submit(pool, "fleet", self.fleet)
            wait(jobs.values(), timeout=self.timeout_s + GRACE_S)
            snapshot = self._assemble(jobs, started)
        finally:
            if own_pool:
                pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._snapshot = snapshot
        if self.on_snapshot is not None:
            self.on_snapshot(snapshot, time.monotonic() - started)
        return snapshot

    def _submit(self, pool: ThreadPoolExecutor, name: str, job: Callable) -> Future:
        running = self._running.get(name)
        if running is not None and not running.done():
            return running  # still waiting on its upstream since an earlier round
        self._running[name] = future = pool.submit(job)
        return future

    def _assemble(self, jobs: dict[str, Future], started: float) -> Snapshot:
        now = self.clock()
        waited = f"no answer within {self.timeout_s:g}s"
        components = []
        for name in self.checks:
            result = _result(jobs[name])
            if isinstance(result, ComponentStatus):
                components.append(result)
            else:
                latency = time.monotonic() - started
                components.append(ComponentStatus(name, self.urls.get(name, ""), DOWN, result or waited, now, latency))
        alerts = _result(jobs["alerts"])
        if not isinstance(alerts, AlertsView):
            alerts = AlertsView(error=f"alerts: {alerts or waited}", checked_at=now)
        fleet = _result(jobs["fleet"])
        if isinstance(fleet, tuple):
            fleet_view, boxes = fleet
        else:  # keep the last known boxes for the box pages, say why the counts are missing
            previous = self.snapshot
            fleet_view, boxes = FleetView(error=f"inventory: {fleet or waited}", checked_at=now), (
                previous.boxes if previous else {}
            )
        return Snapshot(tuple(components), fleet_view, alerts, taken_at=now, boxes=boxes)


def _result(future: Future) -> object:
    """The job's result; a string saying what went wrong; or None while it still runs."""
    if not future.done():
        return None
    exc = future.exception()
    if exc is not None:  # checks catch their own failures: this is a bug, shown rather than raised
        return f"{type(exc).__name__}: {exc}"
    return future.result()
