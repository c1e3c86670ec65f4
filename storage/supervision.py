"""Supervised background loops: nothing dies silently, nothing stays stuck unseen.

Every service runs its background work (the collector's spool writer, fsync thread, token refresh
and scraper; the rules scheduler's evaluations; alerting's grouper and senders; the retention
scheduler; the status refresher) through one :class:`Supervisor`. A loop that raises is:

- logged once with its traceback (the same error again in a row is one warning line, not a
  traceback per retry), and counted in ``jboxmon_<service>_loop_errors_total{loop=...}``;
- restarted after a backoff (0.5 s doubling to 10 s, back to 0.5 s once it made progress again);
- reported by :meth:`Supervisor.problems` (each service's ``/health`` answers 503 with them) from
  the failure until it makes progress again.

A loop reports progress with :meth:`Loop.ok` (an iteration done) and :meth:`Loop.idle` (about to
wait for work without a bound: it cannot be stuck then). A loop with ``stall_after_s`` that made no
progress for that long while not idle is reported stuck; ``check`` adds a loop's own test (the
spool writer: the oldest record too old while InfluxDB answers). ``jboxmon_<service>_loop_healthy``
is 1 per loop while none of this applies.

Two shapes: :meth:`Supervisor.spawn` runs a whole loop function in its own thread and calls it again
when it raises; :meth:`Supervisor.job` wraps the function a scheduler (APScheduler) calls at its
interval: a raise is counted and reported the same way, and the scheduler's next run is the restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 10.0  # a loop is back within 10 s of its cause going away


class Loop:
    """One supervised loop: its state for ``/health`` and the progress calls its body makes."""

    def __init__(
        self,
        supervisor: Supervisor,
        name: str,
        *,
        stall_after_s: float | None = None,
        check: Callable[[], str | None] | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.name = name
        self.stall_after_s = stall_after_s
        self.check = check
        self.errors = 0  # raised exceptions, over the loop's life
        self.failing: str = ""  # the last error, until the loop makes progress again
        self.dead = False  # ended by something it must not survive (SystemExit in a thread...)
        self.backoff_s = supervisor.backoff_initial_s
        self._last_progress = supervisor.monotonic()
        self._idle = False
        self._streak = 0  # errors in a row, without progress between them
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- called by the loop's body ---------------------------------------------------------------

    def ok(self) -> None:
        """An iteration completed: the loop is alive and not stuck."""
        self._last_progress = self.supervisor.monotonic()
        self._idle = False
        if self.failing:
            log.info("loop %s/%s recovered after %d error(s)", self.supervisor.service, self.name, self._streak)
            self.failing = ""
        self._streak = 0
        self.backoff_s = self.supervisor.backoff_initial_s

    def idle(self) -> None:
        """About to wait for work, without a bound: not stuck however long the wait. A failure
        stays reported until an iteration succeeds (``ok``): waiting proves nothing works again."""
        self._last_progress = self.supervisor.monotonic()
        self._idle = True

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- state -------------------------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why this loop is not healthy, or None."""
        if self.dead:
            return f"loop {self.name} is dead: {self.failing}"
        if self.failing:
            return f"loop {self.name} failing ({self._streak} error(s) in a row, restarting): {self.failing}"
        if self.stall_after_s is not None and not self._idle:
            quiet = self.supervisor.monotonic() - self._last_progress
            if quiet > self.stall_after_s:
                return f"loop {self.name} stuck: no progress for {quiet:.0f}s (bound {self.stall_after_s:g}s)"
        if self.check is not None:
            try:
                found = self.check()
            except Exception as exc:  # a broken check is a problem to show, not a crash of /health
                found = f"health check raised {type(exc).__name__}: {exc}"
            if found:
                return f"loop {self.name}: {found}"
        return None

    def failed(self, exc: BaseException) -> None:
        """Count and log an exception the loop raised (a traceback once per streak of the same error)."""
        text = f"{type(exc).__name__}: {exc}"
        again = self._streak > 0 and text == self.failing
        self.errors += 1
        self._streak += 1
        self.failing = text[:500]
        self.supervisor.errors.labels(self.name).inc()
        where = f"{self.supervisor.service}/{self.name}"
        if again:
            log.warning("loop %s failed again (%d in a row): %s", where, self._streak, text)
        else:
            log.error("loop %s failed (restarting in %.1fs): %s", where, self.backoff_s, text, exc_info=exc)

    # -- thread shape ------------------------------------------------------------------------------

    def _start(self, target: Callable[[Loop], Any]) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._main, args=(target,), name=self.name, daemon=True)
        self._thread.start()

    def _main(self, target: Callable[[Loop], Any]) -> None:
        while not self._stopping.is_set():
            try:
                target(self)
            except Exception as exc:
                self.failed(exc)
                if self._stopping.wait(self.backoff_s):
                    break
                self.backoff_s = min(self.backoff_s * 2, self.supervisor.backoff_max_s)
                continue
            except BaseException as exc:  # SystemExit, KeyboardInterrupt in a thread: ends it, said loudly
                self.failed(exc)
                self.dead = True
                return
            break  # the loop function returned: its component asked it to stop

    def stop(self, timeout_s: float = 10.0) -> None:
        """No more restarts; wait for the thread (its component has told the body to return)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        self.supervisor._forget(self)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class Supervisor:
    """The background loops of one service (``service``: collector, rules...), their error counter
    on that service's metrics registry and their health."""

    def __init__(
        self,
        service: str,
        registry: CollectorRegistry | None = None,
        *,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.monotonic = monotonic
        self._loops: dict[str, Loop] = {}
        self._lock = threading.Lock()
        self.errors = Counter(
            f"jboxmon_{service}_loop_errors",
            "Exceptions raised by a background loop (each logged, the loop restarted with backoff)",
            ["loop"],
            registry=registry,
        )
        if registry is not None:
            registry.register(_HealthCollector(self))

    def spawn(
        self,
        name: str,
        target: Callable[[Loop], Any],
        *,
        stall_after_s: float | None = None,
        check: Callable[[], str | None] | None = None,
    ) -> Loop:
        """Run ``target(loop)`` (a whole loop, returning when its component stops; it calls
        ``loop.ok()`` as it makes progress) in a thread named ``name``, called again after a backoff
        whenever it raises."""
        loop = self._add(Loop(self, name, stall_after_s=stall_after_s, check=check))
        loop._start(target)
        return loop

    def job(self, name: str, function: Callable[..., Any], *, stall_after_s: float | None = None) -> Callable[..., Any]:
        """``function`` supervised for a scheduler that calls it again at its interval (APScheduler):
        a raise is counted, logged and reported until a later call succeeds."""
        loop = self._add(Loop(self, name, stall_after_s=stall_after_s))

        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                loop.failed(exc)
                return None
            loop.ok()
            return result

        run.loop = loop  # type: ignore[attr-defined]
        return run

    def forget(self, name: str) -> None:
        """A loop that no longer exists (a rule group removed on reload)."""
        with self._lock:
            self._loops.pop(name, None)

    def problems(self) -> list[str]:
        """One line per unhealthy loop (dead, failing, stuck), for ``/health``; empty when all are well."""
        return [problem for loop in self.loops() if (problem := loop.problem())]

    def loops(self) -> list[Loop]:
        with self._lock:
            return list(self._loops.values())

    def _add(self, loop: Loop) -> Loop:
        with self._lock:
            self._loops[loop.name] = loop
        self.errors.labels(loop.name)  # the series exists at 0 before the first error
        return loop

    def _forget(self, loop: Loop) -> None:
        with self._lock:
            if self._loops.get(loop.name) is loop:
                del self._loops[loop.name]


class _HealthCollector:
    """``jboxmon_<service>_loop_healthy{loop}``: 1 while the loop is neither dead, failing nor stuck."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"jboxmon_{self.supervisor.service}_loop_healthy",
            "1 while a background loop runs and makes progress, 0 while it is dead, failing or stuck",
            labels=["loop"],
        )
        for loop in self.supervisor.loops():
            family.add_metric([loop.name], 0.0 if loop.problem() else 1.0)
        yield family

    def describe(self) -> list:
        return []  # collected lazily: nothing to check for name clashes at registration
