"""The send stage: one worker thread per integration takes the oldest due row of the outbox, delivers
it, and marks it sent, or schedules a retry with exponential backoff (honouring ``Retry-After``), or
fails it when the error is permanent or retries ran past ``give_up_after``.

Rows of one integration go in order: while a webhook is down, its notifications wait behind the first
one instead of racing it; other integrations are not held up.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

from alerting.history import Event, History, subjects_detail
from alerting.metrics import AlertingMetrics
from alerting.outbox import Outbox, Row
from alerting.receivers import Notifier, NotifyError
from config.alerting import RetryConfig
from storage.supervision import Loop, Supervisor

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.5
# a worker is stuck when one delivery (timeouts included) or an outbox read lasts longer than this
SEND_STALL_S = 300.0


class Sender:
    def __init__(self, outbox: Outbox, history: History, metrics: AlertingMetrics, retry: RetryConfig,
                 clock: Callable[[], float] = time.time, loops: Supervisor | None = None) -> None:  # fmt: skip
        self.outbox = outbox
        self.history = history
        self.metrics = metrics
        self.retry = retry
        self.clock = clock
        self.loops = loops or Supervisor("alerting")
        self._workers: dict[str, tuple[Notifier, Loop, threading.Event, threading.Event]] = {}
        self._lock = threading.Lock()

    def set_integrations(self, notifiers: dict[str, Notifier]) -> None:
        """Run one worker per integration; workers of integrations no longer configured stop."""
        with self._lock:
            for name in list(self._workers):
                self._stop_worker(name)
            for name, notifier in notifiers.items():
                wake, stop = threading.Event(), threading.Event()
                work = functools.partial(self._run, name, notifier, wake, stop)
                loop = self.loops.spawn(f"send-{name}", work, stall_after_s=SEND_STALL_S)
                self._workers[name] = (notifier, loop, wake, stop)

    def _stop_worker(self, name: str) -> None:
        notifier, loop, wake, stop = self._workers.pop(name)
        stop.set()
        wake.set()
        loop.stop(timeout_s=30)
        try:
            notifier.close()
        except Exception:
            log.exception("closing %s", name)

    def poke(self) -> None:
        for _, _, wake, _ in list(self._workers.values()):
            wake.set()

    def stop(self) -> None:
        with self._lock:
            for name in list(self._workers):
                self._stop_worker(name)

    def _run(self, name: str, notifier: Notifier, wake: threading.Event, stop: threading.Event, loop: Loop) -> None:
        # an outbox that cannot be read (a disk error) raises: counted, and the worker restarted
        # with backoff by the supervisor; the row stays due in the outbox
        while not stop.is_set():
            wake.clear()  # before looking: a poke while we look is kept for the wait below, not lost
            if self.step(name, notifier):
                loop.ok()
                continue
            loop.ok()
            next_at = self.outbox.next_time(name) if not stop.is_set() else None
            wait = IDLE_POLL_S if next_at is None else min(IDLE_POLL_S, max(0.0, next_at - self.clock()))
            wake.wait(wait)

    def step(self, name: str, notifier: Notifier) -> bool:
        """Deliver (or try) the integration's oldest due row; False when none is due."""
        row = self.outbox.next_due(name, self.clock())
        if row is None:
            return False
        self.deliver(name, notifier, row)
        return True

    def deliver(self, name: str, notifier: Notifier, row: Row) -> None:
        receiver = name.split("/", 1)[0]
        try:
            notifier.notify(row.payload, row.key)
        except NotifyError as exc:
            self._failed(name, receiver, row, exc)
            return
        except Exception as exc:  # a bug in an integration must not kill its worker; treat as retryable
            log.exception("integration %s crashed", name)
            self._failed(name, receiver, row, NotifyError(f"{type(exc).__name__}: {exc}", retryable=True))
            return
        now = self.clock()
        self.outbox.mark_sent(row.id, now)
        self.metrics.notifications.labels(receiver, name, "sent").inc()
        self.metrics.latency.labels(name).set(now - row.created_at)
        self.history.record([Event(now, "notification", "sent", receiver=name, detail=_detail(row))])

    def _failed(self, name: str, receiver: str, row: Row, exc: NotifyError) -> None:
        now = self.clock()
        gave_up = now - row.created_at >= self.retry.give_up_after
        if exc.retryable and not gave_up:
            delay = min(self.retry.max, self.retry.initial * 2 ** min(row.attempts, 30))
            if exc.retry_after_s is not None:
                delay = max(delay, min(exc.retry_after_s, self.retry.max))
            self.outbox.mark_retry(row.id, str(exc), now + delay)
            outcome = "retry"
            log.warning("%s: delivery failed, retry in %.1fs: %s", name, delay, exc)
        else:
            self.outbox.mark_failed(row.id, str(exc), now)
            outcome = "failed"
            log.error("%s: notification dropped (%s): %s", name, "gave up" if gave_up else "permanent", exc)
        self.metrics.notifications.labels(receiver, name, outcome).inc()
        detail = {**_detail(row), "error": str(exc)[:500], "attempt": row.attempts + 1}
        self.history.record([Event(now, "notification", outcome, receiver=name, detail=detail)])


def _detail(row: Row) -> dict:
    return {"key": row.key, "group": row.payload.get("groupKey", ""), "status": row.payload.get("status", ""),
            **subjects_detail(row.payload.get("alerts", []))}  # fmt: skip
