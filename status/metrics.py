"""The status page's own ``/metrics``: what it saw at its last refresh, so Prometheus can alert on the
monitoring itself (a component down, boxes silent) and on the page going stale."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from status.model import DISABLED, UP, Snapshot


class StatusMetrics:
    """Each instance has its own registry: no global state between tests or services."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.component_up = Gauge(
            "jboxmon_status_component_up", "1 when the component's /health said ok", ["component"],
            registry=self.registry,
        )  # fmt: skip
        self.boxes = Gauge("jboxmon_status_boxes", "Registered boxes by state", ["state"], registry=self.registry)
        self.alerts = Gauge("jboxmon_status_alerts", "Alerts held by the alerting service", ["state"],
                            registry=self.registry)  # fmt: skip
        self.refresh_seconds = Histogram(
            "jboxmon_status_refresh_seconds", "Duration of one refresh round", registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )  # fmt: skip
        self.last_refresh = Gauge(
            "jboxmon_status_last_refresh_timestamp_seconds", "When the last refresh round ended", registry=self.registry
        )
        self.upstream_failures = Counter(
            "jboxmon_status_upstream_failures_total", "Checks and reads that failed or timed out", ["upstream"],
            registry=self.registry,
        )  # fmt: skip

    def record(self, snapshot: Snapshot, seconds: float) -> None:
        for component in snapshot.components:
            if component.state != DISABLED:
                self.component_up.labels(component.name).set(1 if component.state == UP else 0)
                if component.state != UP:
                    self.upstream_failures.labels(component.name).inc()
        fleet = snapshot.fleet
        if fleet.error is None:
            self.boxes.labels("registered").set(fleet.registered)
            self.boxes.labels("reporting").set(fleet.reporting)
            self.boxes.labels("silent").set(fleet.registered - fleet.reporting)
        else:
            self.upstream_failures.labels("inventory").inc()
        if snapshot.alerts.error is None:
            counts = snapshot.alerts.counts()
            for state in ("firing", "silenced", "inhibited"):
                self.alerts.labels(state).set(counts[state])
        else:
            self.upstream_failures.labels("alerts").inc()
        self.refresh_seconds.observe(seconds)
        self.last_refresh.set(snapshot.taken_at)
