"""The alerting service: alerts in (``receive``), the pipeline stages, the durable outbox, the sender.

The rules engine hands alerts over in process (``jboxmon run``) through ``receive``, the same path
as ``POST /api/v2/alerts``. Lifecycle: the constructor stores, ``start()`` opens the stores and
starts the ticker and the senders, ``stop()`` is idempotent. ``reload(config)`` swaps routes,
receivers, inhibition and time intervals without a restart (live alerts are regrouped; the outbox
and silences are untouched).
With ``threads=False`` nothing runs by itself: tests drive ``tick(now)`` with an injected clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from alerting import route as routing
from alerting.alerts import AlertFormatError, StoredAlert, from_api
from alerting.group import Dispatcher
from alerting.history import History
from alerting.metrics import AlertingMetrics
from alerting.notify import Pipeline, integration_id
from alerting.outbox import Outbox
from alerting.receivers import Context, Notifier, build
from alerting.sender import Sender
from alerting.silences import SilenceStore
from config.alerting import AlertingConfig
from storage.supervision import Loop, Supervisor

log = logging.getLogger(__name__)
TICK_S = 0.1
HOUSEKEEPING_S = 60.0
TICK_STALL_S = 60.0  # a tick flushes due groups into the outbox: a minute without one is stuck
KEEP_RESOLVED_S = 3600.0  # resolved alerts stay visible (and deduplicated) this long


class AlertingService:
    def __init__(self, config: AlertingConfig, *, clock: Callable[[], float] = time.time,
                 series: Callable | None = None, metrics: AlertingMetrics | None = None,
                 threads: bool = True) -> None:  # fmt: skip
        self.config = config
        self.clock = clock
        self.series = series
        self.metrics = metrics or AlertingMetrics()
        # the grouper (tick) and one sender per integration: counted, restarted with backoff, and
        # named by /health while they fail or are stuck (storage/supervision.py)
        self.loops = Supervisor("alerting", self.metrics.registry)
        self.threads = threads
        self.outbox = Outbox(config.outbox)
        self.silences = SilenceStore(config.silences, clock)
        self.history = History(config.history)
        self.alerts: dict[str, StoredAlert] = {}
        self.pipeline = Pipeline(config, self.silences, self.outbox, self.history, self.metrics, self._firing)
        self.dispatcher = Dispatcher(routing.build(config.route), self.pipeline.flush)
        self.sender = Sender(self.outbox, self.history, self.metrics, config.retry, clock, loops=self.loops)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker = None
        self._started = False
        self._housekept = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> AlertingService:
        self.outbox.open()
        self.silences.open()
        self.history.open()
        self._started = True
        if self.threads:
            self.pipeline.on_queued = self.sender.poke
            self.sender.set_integrations(self._notifiers(self.config))
            self._stop.clear()
            self._ticker = self.loops.spawn("grouper", self._run, stall_after_s=TICK_STALL_S)
        log.info("alerting: %d receiver(s), %d route(s)", len(self.config.receivers),
                 len(self.dispatcher.root.walk()))  # fmt: skip
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.stop(timeout_s=10)
            self._ticker = None
        self.sender.stop()
        if self._started:
            self._started = False
            self.outbox.close()
            self.silences.close()
            self.history.close()

    def _run(self, loop: Loop) -> None:
        # a tick that raises is counted and the loop restarted by the supervisor (the next tick
        # tries again); a tick that never returns (a lock held) makes /health name "grouper"
        wait = TICK_S
        while not self._stop.wait(wait):
            self.tick()
            loop.ok()
            # wake when the next group is due (not up to a tick late), and at least every tick
            due = self.dispatcher.next_due()
            wait = TICK_S if due is None else min(TICK_S, max(0.002, due - self.clock()))

    def _notifiers(self, config: AlertingConfig) -> dict[str, Notifier]:
        context = Context(templates_dir=config.templates_dir, chart_window_s=config.chart_window, series=self.series)
        notifiers = {}
        for receiver in config.receivers:
            if receiver.disabled:
                continue
            for index, (kind, item) in enumerate(receiver.integrations()):
                notifiers[integration_id(receiver.name, kind, index)] = build(kind, item, context)
        return notifiers

    # -- alerts in -----------------------------------------------------------------------------

    def receive(self, items: list) -> int:
        """Take a ``POST /api/v2/alerts`` body; raises AlertFormatError (nothing taken) when an item is bad."""
        if not isinstance(items, list):
            self.metrics.invalid.inc()
            raise AlertFormatError(f"expected a JSON list of alerts, got {type(items).__name__}")
        now = self.clock()
        try:
            parsed = [from_api(item, i, now, self.config.resolve_timeout) for i, item in enumerate(items)]
        except AlertFormatError:
            self.metrics.invalid.inc()
            raise
        events = []
        with self._lock:
            for alert in parsed:
                current = self.alerts.get(alert.fingerprint)
                if current is not None and current.resolved(now) and alert.resolved(now):
                    continue  # a re-sent resolution (Prometheus re-sends them for 15 min): nothing changes
                if current is not None:
                    current.merge(alert)
                    alert = current
                else:
                    self.alerts[alert.fingerprint] = alert
                event = self.pipeline.note(alert, now)
                if event is not None:
                    events.append(event)
                self.pipeline.index_stale = True
                self.dispatcher.insert(alert, now)
                self.metrics.received.labels("resolved" if alert.resolved(now) else "firing").inc()
            self.history.record(events)  # one transaction for the whole batch (10,000 alerts in an outage)
        return len(parsed)

    def _firing(self) -> list[StoredAlert]:
        now = self.clock()
        return [a for a in list(self.alerts.values()) if not a.resolved(now)]

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """Flush due groups; every minute, forget old resolved alerts and prune history and outbox."""
        now = self.clock() if now is None else now
        with self._lock:
            flushed = self.dispatcher.tick(now)
        if now - self._housekept >= HOUSEKEEPING_S:
            self._housekept = now
            self._housekeeping(now)
        return flushed

    def _housekeeping(self, now: float) -> None:
        with self._lock:
            old = [fp for fp, a in self.alerts.items() if a.resolved(now) and a.ends_at < now - KEEP_RESOLVED_S]
            for fp in old:
                del self.alerts[fp]
        self.update_metrics(now)
        self.history.prune(now - self.config.history_retention)
        self.outbox.prune(now - self.config.history_retention)
        self.silences.prune(now - self.config.history_retention)

    def update_metrics(self, now: float | None = None) -> None:
        """Gauges that are cheaper to count when read (``GET /metrics``) than to keep up to date."""
        now = self.clock() if now is None else now
        with self._lock:
            firing = [a for a in self.alerts.values() if not a.resolved(now)]
            self.history.record(self.pipeline.mark(firing, now))  # silences may have changed since the last flush
            self.metrics.groups.set(len(self.dispatcher.groups))
        self.metrics.alerts.labels("firing").set(len(firing))
        self.metrics.alerts.labels("silenced").set(sum(1 for a in firing if a.suppressed_by.get("silencedBy")))
        self.metrics.alerts.labels("inhibited").set(sum(1 for a in firing if a.suppressed_by.get("inhibitedBy")))
        depth, oldest = self.outbox.depth()
        self.metrics.outbox_depth.set(depth)
        self.metrics.outbox_oldest.set(0 if oldest is None else max(0.0, now - oldest))

    # -- reload --------------------------------------------------------------------------------

    def reload(self, config: AlertingConfig) -> None:
        """Apply a new ``alerting:`` section (validated by the caller). Paths and listen stay as started."""
        now = self.clock()
        with self._lock:
            self.config = config.model_copy(
                update={
                    "outbox": self.config.outbox,
                    "silences": self.config.silences,
                    "history": self.config.history,
                    "listen": self.config.listen,
                }
            )
            self.pipeline.configure(self.config)
            self.dispatcher.replace_root(routing.build(config.route), list(self.alerts.values()), now)
        if self.threads and self._started:
            self.sender.retry = config.retry
            self.sender.set_integrations(self._notifiers(self.config))
        self.metrics.reloads.labels("success").inc()
        log.info("alerting config reloaded: %d receiver(s)", len(config.receivers))

    # -- views ---------------------------------------------------------------------------------

    def alert_views(self, now: float | None = None) -> list[dict]:
        """``GET /api/v2/alerts``: every held alert with its state and receivers."""
        now = self.clock() if now is None else now
        with self._lock:
            alerts = list(self.alerts.values())
            # judged now; the state changes found are history like any other
            self.history.record(self.pipeline.mark([a for a in alerts if not a.resolved(now)], now))
            views = []
            for alert in alerts:
                view = alert.payload(now)
                view["endsAt"] = view["endsAt"] if alert.resolved(now) else _iso(alert.ends_at)
                suppressed = alert.suppressed_by if not alert.resolved(now) else {}
                view["status"] = {
                    "state": "resolved"
                    if alert.resolved(now)
                    else ("suppressed" if any(suppressed.values()) else "active"),
                    "silencedBy": suppressed.get("silencedBy", []),
                    "inhibitedBy": suppressed.get("inhibitedBy", []),
                }
                view["receivers"] = [{"name": r.receiver} for r in self.dispatcher.root.match(alert.labels)]
                view["updatedAt"] = _iso(alert.updated_at)
                views.append(view)
        return sorted(views, key=lambda v: (v["labels"].get("alertname", ""), v["labels"].get("jbox_id", "")))


def _iso(seconds: float) -> str:
    from alerting.alerts import iso

    return iso(seconds)
