"""Grouping (Alertmanager's dispatcher): alerts taken by a route are gathered into one aggregation
group per value of the route's ``group_by`` labels.

A new group waits ``group_wait`` before its first flush (so an outage of 10,000 boxes arrives as one
notification per group, not 10,000), then flushes every ``group_interval``. Whether a flush sends
anything (something new, something resolved, or ``repeat_interval`` elapsed) is the dedup stage's
decision (``alerting.notify``). Time is injected: ``tick(now)`` does every flush that is due.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from alerting.alerts import StoredAlert
from alerting.identity import group_key, notification_order
from alerting.route import Route

log = logging.getLogger(__name__)
SWEEP_S = 30.0  # Alertmanager's dispatcher maintenance interval


@dataclass
class AggregationGroup:
    route: Route
    labels: dict[str, str]
    key: str  # Alertmanager's groupKey: '{}/{team="a"}:{alertname="X"}' (webhooks carry it)
    next_flush: float
    alerts: dict[str, StoredAlert] = field(default_factory=dict)
    flushed_once: bool = False

    def ordered(self) -> list[StoredAlert]:
        """In the order Alertmanager lists them in notifications (webhook receivers may rely on it)."""
        return sorted(self.alerts.values(), key=lambda a: notification_order(a.labels))


Flush = Callable[[AggregationGroup, list[StoredAlert], float], bool]
"""Called with a group, its alerts and the time; returns False when delivery could not be queued."""


class Dispatcher:
    """Insert alerts as they arrive; ``tick(now)`` flushes the groups that are due."""

    def __init__(self, root: Route, flush: Flush) -> None:
        self.root = root
        self.flush = flush
        self.groups: dict[tuple, AggregationGroup] = {}
        self._lock = threading.RLock()

    def insert(self, alert: StoredAlert, now: float) -> None:
        with self._lock:
            for route in self.root.match(alert.labels):
                labels = route.group_labels(alert.labels)
                slot = _slot(route, labels)
                group = self.groups.get(slot)
                if group is None:
                    key = group_key(route.key, labels)
                    group = AggregationGroup(route, labels, key, next_flush=now + route.group_wait)
                    self.groups[slot] = group
                group.alerts[alert.fingerprint] = alert
                if not group.flushed_once and alert.starts_at + route.group_wait < now:
                    # Alertmanager: an alert that started longer than group_wait ago is not held back
                    group.next_flush = min(group.next_flush, now)

    def tick(self, now: float) -> int:
        """Flush every group that is due; returns how many were flushed."""
        with self._lock:
            due = [g for g in self.groups.values() if g.next_flush <= now]
        flushed = 0
        for group in sorted(due, key=lambda g: g.next_flush):
            with self._lock:
                alerts = group.ordered()
            try:
                ok = self.flush(group, alerts, now) if alerts else True
            except Exception:  # the disk is full, a bug: keep the alerts, try again at the next interval
                log.exception("flushing group %s failed", group.key)
                ok = False
            flushed += 1
            with self._lock:
                group.flushed_once = True
                group.next_flush = now + group.route.group_interval
                if ok:
                    # resolved alerts were notified (or needed no notice): forget them, as Alertmanager does
                    for alert in alerts:
                        current = group.alerts.get(alert.fingerprint)
                        if current is alert and alert.resolved(now):
                            del group.alerts[alert.fingerprint]
        return flushed

    def sweep(self) -> int:
        """Forget the groups left empty; returns how many. Alertmanager does this every 30 s, not when a
        group empties: an alert arriving before the sweep joins the old group and is told at the group's
        next interval, without a new group_wait. The service calls this every ``SWEEP_S``."""
        with self._lock:
            empty = [slot for slot, group in self.groups.items() if not group.alerts]
            for slot in empty:
                del self.groups[slot]
        return len(empty)

    def next_due(self) -> float | None:
        with self._lock:
            return min((g.next_flush for g in self.groups.values()), default=None)

    def replace_root(self, root: Route, alerts: list[StoredAlert], now: float) -> None:
        """After a config reload: regroup the live alerts under the new tree; groups that still exist keep
        their timers."""
        with self._lock:
            old = self.groups
            self.root = root
            self.groups = {}
            for alert in alerts:
                self.insert(alert, now)
            for slot, group in self.groups.items():
                if slot in old:
                    group.next_flush = old[slot].next_flush
                    group.flushed_once = old[slot].flushed_once


def _slot(route: Route, labels: dict[str, str]) -> tuple:
    """The dispatcher's own key: unique even for sibling routes with the same matchers (same groupKey)."""
    return route.id, tuple(sorted(labels.items()))
