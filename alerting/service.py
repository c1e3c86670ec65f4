"""The alerting service: alerts in (``receive``), the pipeline stages, the durable outbox, the sender.

The rules engine hands alerts over in process (``jboxmon run``) through ``receive``, the same path
as ``POST /api/v2/alerts``. Lifecycle: the constructor stores, ``start()`` opens the stores and
starts the ticker and the senders, ``stop()`` is idempotent. ``reload(config)`` swaps routes,
receivers, inhibition and time intervals without a restart (live alerts are regrouped; the outbox
and silences are untouched).
With ``threads=False`` nothing runs by itself: tests drive ``tick(now)`` with an injected clock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from alerting import route as routing
from alerting.alertchart import AlertCharts
from alerting.alerts import AlertFormatError, StoredAlert, from_api_batch, iso
from alerting.group import SWEEP_S, Dispatcher
from alerting.history import History
from alerting.identity import labels_order
from alerting.metrics import AlertingMetrics
from alerting.notify import Pipeline, integration_id
from alerting.outbox import Outbox
from alerting.receivers import Context, Notifier, build
from alerting.sender import Sender
from alerting.silence_log import SilenceLog, silence_event
from alerting.silences import Silence, SilenceError, SilenceStore, can_update
from alerting.views import alertmanager_view, jboxmon_view
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
        self._swept = clock()
        self.started_at = clock()
        self.silence_log = SilenceLog(self.silences, clock())

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
        context = Context(templates_dir=config.templates_dir, charts=self.charts(config),
                          external_url=config.external_url)  # fmt: skip
        notifiers = {}
        for receiver in config.receivers:
            if receiver.disabled:
                continue
            for index, (kind, item) in enumerate(receiver.integrations()):
                notifiers[integration_id(receiver.name, kind, index)] = build(kind, item, context)
        return notifiers

    def charts(self, config: AlertingConfig | None = None) -> AlertCharts | None:
        """Charts of alerts and boxes (emails, ``GET /api/v1/chart``); None without series to read."""
        config = config or self.config
        if self.series is None:
            return None
        return AlertCharts(self.series, config.chart_window, config.chart_timezone, self.clock)

    # -- alerts in -----------------------------------------------------------------------------

    def receive(self, items: list) -> int:
        """Take a ``POST /api/v2/alerts`` body. As Alertmanager does, the good items are taken even when some
        are bad; then AlertFormatError names each bad item (HTTP 400), after the good ones are stored."""
        if not isinstance(items, list):
            self.metrics.invalid.inc()
            raise AlertFormatError(f"expected a JSON list of alerts, got {type(items).__name__}")
        now = self.clock()
        parsed, errors = from_api_batch(items, now, self.config.resolve_timeout)
        self._take(parsed, now)
        if errors:
            self.metrics.invalid.inc()
            shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
            raise AlertFormatError(f"{len(errors)} of {len(items)} alert(s) refused, the others taken: {shown}")
        return len(parsed)

    def _take(self, parsed: list[StoredAlert], now: float) -> None:
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

    # -- silences ------------------------------------------------------------------------------

    def put_silence(self, body: object, created_by: str | None = None) -> Silence:
        """Create a silence, or update one by ``id``, as Alertmanager's ``POST /api/v2/silences`` does (an
        update that ``can_update`` refuses expires the old silence and creates a new one, with a new id; a
        new silence starts now at the earliest); recorded in history. Raises SilenceError when the body is
        malformed, SilenceNotFound when the id is unknown."""
        now = self.clock()
        silence = Silence.from_api(body, now)
        if created_by is not None:  # the authenticated author, not what the client wrote
            silence = dataclasses.replace(silence, created_by=created_by)
        if silence.ends_at < now:  # Alertmanager's API refuses them too
            raise SilenceError(f"endsAt {iso(silence.ends_at)}: end time can't be in the past")
        events = []
        old = self.silences.get(body["id"]) if isinstance(body, dict) and body.get("id") else None
        if old is None or not can_update(old, silence, now):
            if old is not None and old.state(now) != "expired":
                events.append(self.silence_log.expired_by_hand(self.silences.expire(old.id), now))
            silence = silence.renewed(starts_at=max(silence.starts_at, now))
        self.silences.put(silence)
        self.pipeline.silences_changed()
        events.append(silence_event(silence, "updated" if old is not None and old.id == silence.id else "created", now))
        self.history.record(events)
        return silence

    def expire_silence(self, silence_id: str) -> Silence:
        """Expire a silence now (``DELETE /api/v2/silence/{id}``); recorded in history."""
        was_expired = self.silences.get(silence_id).state(self.clock()) == "expired"
        silence = self.silences.expire(silence_id)
        self.pipeline.silences_changed()
        if not was_expired:
            self.history.record([self.silence_log.expired_by_hand(silence, self.clock())])
        return silence

    def _firing(self) -> list[StoredAlert]:
        now = self.clock()
        return [a for a in list(self.alerts.values()) if not a.resolved(now)]

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """Flush due groups; every minute, forget old resolved alerts and prune history and outbox."""
        now = self.clock() if now is None else now
        with self._lock:
            flushed = self.dispatcher.tick(now)
            if self.pipeline.recompute_due(now):
                # a source ended by its endsAt: its targets are released now, in the API and the history
                # (their groups notify them at their next flush, as Alertmanager's do)
                self.history.record(self.pipeline.mark(list(self.alerts.values()), now))
        self.history.record(self.silence_log.expiries(now))
        if now - self._swept >= SWEEP_S:
            self._swept = now
            with self._lock:
                self.dispatcher.sweep()
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
        """``GET /api/v2/alerts``: the alerts not resolved, judged now, in Alertmanager's shape and order."""
        now = self.clock() if now is None else now
        with self._lock:
            alerts = self._judged(now)
            views = [alertmanager_view(a, now, self._receivers(a)) for a in alerts if not a.resolved(now)]
        return sorted(views, key=lambda v: v["fingerprint"])

    def alert_groups(self, now: float | None = None) -> list[dict]:
        """``GET /api/v2/alerts/groups``: each aggregation group with its unresolved alerts (Alertmanager's
        shape: ``labels``, ``receiver``, ``alerts``), ordered as Alertmanager orders them."""
        now = self.clock() if now is None else now
        with self._lock:
            self._judged(now)
            groups = []
            for group in list(self.dispatcher.groups.values()):
                alerts = [a for a in group.ordered() if not a.resolved(now)]
                groups.append({
                    "labels": dict(group.labels),
                    "receiver": {"name": group.route.receiver},
                    "alerts": [alertmanager_view(a, now, self._receivers(a)) for a in alerts],
                })  # fmt: skip
        groups.sort(key=lambda g: g["receiver"]["name"])
        groups.sort(key=lambda g: labels_order(g["labels"]))  # stable: labels first, then receiver
        return groups

    def jboxmon_alert_views(self, now: float | None = None) -> list[dict]:
        """``GET /api/jboxmon/v1/alerts``: every held alert (resolved ones too), with what suppresses it."""
        now = self.clock() if now is None else now
        with self._lock:
            alerts = self._judged(now)
            views = [jboxmon_view(a, now, self._receivers(a), self._silence_summary, self.alerts.get) for a in alerts]
        return sorted(views, key=lambda v: (v["labels"].get("alertname", ""), v["labels"].get("jbox_id", ""),
                                            v["fingerprint"]))  # fmt: skip

    def _judged(self, now: float) -> list[StoredAlert]:
        alerts = list(self.alerts.values())
        # judged now; the state changes found are history like any other
        self.history.record(self.pipeline.mark([a for a in alerts if not a.resolved(now)], now))
        return alerts

    def _receivers(self, alert: StoredAlert) -> list[str]:
        return [route.receiver for route in self.dispatcher.root.match(alert.labels)]

    def _silence_summary(self, silence_id: str) -> dict | None:
        try:
            silence = self.silences.get(silence_id)
        except SilenceError:
            return None
        return {"createdBy": silence.created_by, "comment": silence.comment, "endsAt": iso(silence.ends_at)}
