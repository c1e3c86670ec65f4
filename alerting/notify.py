"""The stages that run when a group flushes: mute (route time intervals) -> inhibit -> silence ->
dedup (against the notification log) -> queue in the durable outbox, one row per integration.

Dedup (``alerting.dedup``) compares each flush with the notification log kept in the outbox.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from alerting.alerts import StoredAlert, iso
from alerting.dedup import needs_update
from alerting.group import AggregationGroup
from alerting.history import Event, History, subjects_detail
from alerting.inhibit import Inhibitor
from alerting.metrics import AlertingMetrics
from alerting.outbox import LogEntry, Outbox
from alerting.silences import SilenceStore
from alerting.timeintervals import TimeInterval, build
from config.alerting import AlertingConfig, ReceiverConfig

log = logging.getLogger(__name__)


def integration_id(receiver: str, kind: str, index: int) -> str:
    return f"{receiver}/{kind}[{index}]"


class Pipeline:
    """``flush(group, alerts, now)`` is the dispatcher's callback; ``configure(config)`` on reload."""

    def __init__(self, config: AlertingConfig, silences: SilenceStore, outbox: Outbox, history: History,
                 metrics: AlertingMetrics, firing: Callable[[], list[StoredAlert]]) -> None:  # fmt: skip
        self.silences = silences
        self.outbox = outbox
        self.history = history
        self.metrics = metrics
        self.firing = firing  # every firing alert, for the inhibition index
        self.index_stale = True
        self.next_change: float | None = None  # when an inhibiting source ends: states change then
        self._silence_change: float | None = None  # when a silence starts or ends
        self.on_queued: Callable[[], None] = lambda: None
        self._last_state: dict[str, str] = {}
        self.configure(config)

    def configure(self, config: AlertingConfig) -> None:
        self.config = config
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.intervals: dict[str, TimeInterval] = build(config.all_time_intervals())
        self.receivers: dict[str, ReceiverConfig] = {r.name: r for r in config.receivers}
        self.index_stale = True

    # -- suppression ---------------------------------------------------------------------------

    def mark(self, alerts: list[StoredAlert], now: float) -> list[Event]:
        """Set ``suppressed_by`` on firing alerts; history events for alerts whose state changed."""
        self._reindex(now)
        events = []
        for alert in alerts:
            if alert.resolved(now):
                alert.suppressed_by = {}
                state = "resolved"
            else:
                # both judged, as Alertmanager's API shows them (either one keeps the alert from people)
                silenced = self.silences.silenced_by(alert.labels, now)
                inhibited = self.inhibitor.inhibited_by(alert, now)
                alert.suppressed_by = {"silencedBy": silenced, "inhibitedBy": inhibited}
                state = "silenced" if silenced else "inhibited" if inhibited else "firing"
            if self._last_state.get(alert.fingerprint) != state:
                if state != "resolved" or alert.fingerprint in self._last_state:
                    detail = {k: v for k, v in alert.suppressed_by.items() if v} or None
                    events.append(_alert_event(alert, state, now, detail))
                self._last_state[alert.fingerprint] = state
            if state == "resolved":
                self._last_state.pop(alert.fingerprint, None)
        return events

    def recompute_due(self, now: float) -> bool:
        """True (once) when an inhibiting source has ended, or a silence started or ended, since the last
        look: states must be judged again (so the API and the history change at that moment)."""
        self._reindex(now)
        due = [t for t in (self.next_change, self._silence_change) if t is not None]
        if not due or now < min(due):
            if self._silence_change is None:
                self._silence_change = self.silences.next_change(now)
            return False
        self.next_change = self.inhibitor.next_change(now)
        self._silence_change = self.silences.next_change(now)
        return True

    def _suppressed(self, alert: StoredAlert, now: float) -> bool:
        """Kept from people now. A resolved alert is judged too, as Alertmanager's mute stages judge every
        alert of a flush: one resolving while silenced or inhibited gets no resolved notification."""
        if not alert.resolved(now):
            return any(alert.suppressed_by.values())
        return bool(self.inhibitor.inhibited_by(alert, now) or self.silences.silenced_by(alert.labels, now))

    def silences_changed(self) -> None:
        """A silence was created, updated or expired: judge the states again at the next tick."""
        self._silence_change = 0.0

    def _reindex(self, now: float) -> None:
        if self.index_stale:
            self.inhibitor.index(self.firing())
            self.index_stale = False
            self.next_change = self.inhibitor.next_change(now)

    def note(self, alert: StoredAlert, now: float) -> Event | None:
        """The firing/resolved event of an arrival, if its state changed (suppression is judged at flush)."""
        state = "resolved" if alert.resolved(now) else "firing"
        last = self._last_state.get(alert.fingerprint)
        if last is None and state == "firing":
            self._last_state[alert.fingerprint] = "firing"
            return _alert_event(alert, "firing", now, None)
        if last is not None and state == "resolved":
            self._last_state.pop(alert.fingerprint, None)
            return _alert_event(alert, "resolved", now, None)
        return None

    def muted(self, group: AggregationGroup, now: float) -> bool:
        route = group.route
        if any(self.intervals[name].contains(now) for name in route.mute_time_intervals if name in self.intervals):
            return True
        active = [self.intervals[n] for n in route.active_time_intervals if n in self.intervals]
        return bool(active) and not any(interval.contains(now) for interval in active)

    # -- the flush -----------------------------------------------------------------------------

    def flush(self, group: AggregationGroup, alerts: list[StoredAlert], now: float) -> bool:
        events = self.mark(alerts, now)
        if self.muted(group, now):
            self.history.record(events)
            return True
        shown = [a for a in alerts if not self._suppressed(a, now)]
        if not shown:
            # Alertmanager's pipeline stops when its mute stages leave nothing: no dedup, and the notification
            # log keeps what the receiver was last told (an alert inhibited, then released, is not news)
            self.history.record(events)
            return True
        firing = {a.fingerprint for a in shown if not a.resolved(now)}
        resolved = {a.fingerprint for a in shown if a.resolved(now)}
        receiver = self.receivers.get(group.route.receiver)
        if receiver is None or receiver.disabled:
            if firing:
                events.append(
                    Event(
                        now,
                        "notification",
                        "skipped",
                        receiver=group.route.receiver,
                        detail={
                            "group": group.key,
                            "why": "receiver disabled",
                            "firing": len(firing),
                            **subjects_detail([a.payload(now) for a in shown if not a.resolved(now)]),
                        },
                    )
                )
            self.history.record(events)
            return True
        rows, log_entries = [], {}
        integrations = receiver.integrations() or [("log", None)]
        for index, (kind, config) in enumerate(integrations):
            integration = integration_id(receiver.name, kind, index)
            log_key = f"{group.key}|{integration}"
            send_resolved = getattr(config, "send_resolved", True)
            entry = self.outbox.log_entry(log_key)
            # an external Alertmanager resolves what is not re-sent (its resolve_timeout): forward at every
            # flush and let its own dedup and gossip decide what people see
            forward = kind == "alertmanager" and bool(firing or (entry and entry.firing))
            if not forward and not needs_update(
                entry, firing, resolved, send_resolved, group.route.repeat_interval, now
            ):
                continue
            log_entries[log_key] = LogEntry(firing, resolved, now)
            listed = [a for a in shown if send_resolved or not a.resolved(now)]
            if not listed:
                continue
            key = hashlib.sha256(f"{log_key}|{sorted(firing)}|{sorted(resolved)}|{now!r}".encode()).hexdigest()[:32]
            payload = self.payload(receiver.name, group, listed, now)
            if kind == "alertmanager":  # firing until the next forwards are overdue, as Prometheus sets endsAt
                payload["forwardEndsAt"] = iso(now + 4 * group.route.group_interval)
            events.append(Event(now, "notification", "logged" if kind == "log" else "queued", receiver=integration,
                                detail={"group": group.key, "key": key, "firing": len(firing),
                                        "resolved": len(resolved), "status": payload["status"],
                                        **subjects_detail(payload["alerts"])}))  # fmt: skip
            if kind != "log":
                rows.append((key, integration, payload))
        if log_entries:
            for key in self.outbox.enqueue(rows, log_entries, now):
                events.append(Event(now, "notification", "superseded", detail={"group": group.key, "key": key}))
        self.history.record(events)
        if rows:
            self.on_queued()
        return True

    def payload(self, receiver: str, group: AggregationGroup, alerts: list[StoredAlert], now: float) -> dict:
        """Alertmanager's webhook document, version 4."""
        items = [a.payload(now) for a in alerts]
        common_labels = _common([a.labels for a in alerts])
        return {
            "version": "4",
            "groupKey": group.key,
            "truncatedAlerts": 0,
            "status": "firing" if any(i["status"] == "firing" for i in items) else "resolved",
            "receiver": receiver,
            "groupLabels": dict(group.labels),
            "commonLabels": common_labels,
            "commonAnnotations": _common([a.annotations for a in alerts]),
            "externalURL": self.config.external_url or "",
            "alerts": items,
        }


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def _alert_event(alert: StoredAlert, state: str, now: float, detail: dict | None) -> Event:
    return Event(now, "alert", state, alert.name, alert.labels.get("jbox_id", ""), alert.fingerprint, detail=detail)
