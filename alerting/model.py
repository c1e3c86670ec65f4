"""The alert handed from the rules engine to the alerting pipeline: the interface between them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class Alert:
    """One alert instance: a rule for one box (``jbox_id`` label) or for the fleet.

    ``starts_at`` is when it started firing; ``ends_at`` is set once it resolved. Times are UTC.
    """

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: Literal["firing", "resolved"]
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    value: float | None = None
    generator_url: str = ""
    fingerprint: str = field(default="", compare=False)

    def to_alertmanager(self) -> dict:
        """The shape of Alertmanager's ``POST /api/v2/alerts`` items (and of webhook v4 alerts)."""
        body = {
            "labels": {"alertname": self.name, **self.labels},
            "annotations": self.annotations,
            "startsAt": self.starts_at.isoformat().replace("+00:00", "Z"),
            "generatorURL": self.generator_url,
        }
        if self.ends_at is not None:
            body["endsAt"] = self.ends_at.isoformat().replace("+00:00", "Z")
        return body


class AlertSink(Protocol):
    """Receives the alerts of every evaluation: firing ones (again, as Alertmanager expects) and
    those that just resolved. Implementations must not block the evaluator for long."""

    def send(self, alerts: list[Alert]) -> None: ...
