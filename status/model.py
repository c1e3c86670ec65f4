"""What the status page shows, as plain data: one :class:`Snapshot` per refresh round.

The HTML page and ``GET /api/v1/status`` render the same snapshot, so they never disagree. Times are
float seconds since the epoch; ``to_api`` adds ages relative to the moment of the request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

UP, DEGRADED, DOWN, DISABLED = "up", "degraded", "down", "disabled"
# worst first: the page's banner shows the worst state of any component
STATE_ORDER = {DOWN: 0, DEGRADED: 1, UP: 2, DISABLED: 3}
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ComponentStatus:
    """One service as its ``/health`` described it (or failed to) at ``checked_at``."""

    name: str
    url: str
    state: str  # up, degraded, down, disabled
    reason: str = ""
    checked_at: float | None = None
    latency_s: float | None = None

    def to_api(self, now: float, stale_after: float) -> dict:
        age = None if self.checked_at is None else max(0.0, now - self.checked_at)
        return {
            "name": self.name,
            "url": self.url,
            "state": self.state,
            "reason": self.reason,
            "checked_at": iso(self.checked_at),
            "checked_ago_s": None if age is None else round(age, 1),
            "stale": age is not None and age > stale_after,
            "latency_ms": None if self.latency_s is None else round(self.latency_s * 1000, 1),
        }


@dataclass(frozen=True)
class AlertRow:
    """One alert held by the alerting service, reduced to what an operator triages on."""

    alertname: str
    severity: str
    jbox_id: str
    site: str
    region: str
    summary: str
    starts_at: float
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    fingerprint: str = ""

    @property
    def suppressed(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)

    def sort_key(self) -> tuple:
        """Unsuppressed first (as Alertmanager's UI hides silenced ones), then by severity, newest first."""
        return (self.suppressed, SEVERITY_ORDER.get(self.severity, len(SEVERITY_ORDER)), -self.starts_at)

    def to_api(self, now: float) -> dict:
        return {
            "alertname": self.alertname,
            "severity": self.severity,
            "jbox_id": self.jbox_id,
            "site": self.site,
            "region": self.region,
            "summary": self.summary,
            "since": iso(self.starts_at),
            "for_s": round(max(0.0, now - self.starts_at), 1),
            "silenced": bool(self.silenced_by),
            "silenced_by": list(self.silenced_by),
            "inhibited": bool(self.inhibited_by),
            "inhibited_by": list(self.inhibited_by),
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class AlertsView:
    """Every alert firing now (sorted), or why they could not be read: an unknown is never 'none'."""

    rows: tuple[AlertRow, ...] = ()
    error: str | None = None
    checked_at: float | None = None

    def counts(self) -> dict[str, int]:
        out = {"firing": len(self.rows), "silenced": 0, "inhibited": 0}
        for row in self.rows:
            out["silenced"] += bool(row.silenced_by)
            out["inhibited"] += bool(row.inhibited_by and not row.silenced_by)
        by_severity: dict[str, int] = {}
        for row in self.rows:
            if not row.suppressed:
                by_severity[row.severity or "none"] = by_severity.get(row.severity or "none", 0) + 1
        return {**out, "by_severity": by_severity}


@dataclass(frozen=True)
class GroupCount:
    """Boxes of one site or region: registered, reporting, silent."""

    name: str
    registered: int
    reporting: int

    @property
    def silent(self) -> int:
        return self.registered - self.reporting


@dataclass(frozen=True)
class SilentBox:
    jbox_id: str
    site: str
    region: str
    last_seen: float | None  # None: never reported since it was registered
    registered_at: float | None


@dataclass(frozen=True)
class FleetView:
    """The inventory against the reporting window; lists sorted, counts exact."""

    registered: int = 0
    reporting: int = 0
    silent: tuple[SilentBox, ...] = ()  # every silent box, most recently lost first
    regions: tuple[GroupCount, ...] = ()
    sites: tuple[GroupCount, ...] = ()  # most silent boxes first
    error: str | None = None
    checked_at: float | None = None


@dataclass(frozen=True)
class Snapshot:
    """One refresh round: every component, the fleet, the alerts; ``taken_at`` when it ended."""

    components: tuple[ComponentStatus, ...]
    fleet: FleetView
    alerts: AlertsView
    taken_at: float
    boxes: dict = field(default_factory=dict)  # jbox_id -> inventory.Box, for the box pages

    def overall(self) -> str:
        states = [c.state for c in self.components if c.state != DISABLED]
        return min(states, key=STATE_ORDER.__getitem__) if states else UP
