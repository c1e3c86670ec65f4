"""Self-metrics of the alerting service, on its own registry (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter("jboxmon_alerting_alerts_received", "Alerts received", ["status"], registry=r)
        self.invalid = Counter("jboxmon_alerting_alerts_invalid", "Posted alert batches refused as malformed",
                               registry=r)  # fmt: skip
        self.alerts = Gauge("jboxmon_alerting_alerts", "Alerts held now by state", ["state"], registry=r)
        self.notifications = Counter("jboxmon_alerting_notifications", "Notification attempts by outcome",
                                     ["receiver", "integration", "outcome"], registry=r)  # fmt: skip
        self.latency = Gauge("jboxmon_alerting_last_delivery_seconds", "Queue-to-acknowledged time of the last "
                             "delivery", ["integration"], registry=r)  # fmt: skip
        self.outbox_depth = Gauge("jboxmon_alerting_outbox_depth", "Notifications waiting in the outbox", registry=r)
        self.outbox_oldest = Gauge("jboxmon_alerting_outbox_oldest_age_seconds", "Age of the oldest waiting "
                                   "notification", registry=r)  # fmt: skip
        self.groups = Gauge("jboxmon_alerting_aggregation_groups", "Aggregation groups", registry=r)
        self.reloads = Counter("jboxmon_alerting_config_reloads", "Config reloads by outcome", ["outcome"], registry=r)
