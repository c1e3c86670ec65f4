"""The collector's self-metrics, on a registry of its own (no global state between instances)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "jboxmon_collector_requests",
            "HTTP requests by endpoint, status and payload version",
            ["endpoint", "status", "version"],
            registry=r,
        )
        self.points = Counter(
            "jboxmon_collector_points", "Points accepted or rejected, by reason", ["result", "reason"], registry=r
        )
        self.deprecated = Counter(
            "jboxmon_collector_deprecated_payloads",
            "Requests using a deprecated payload version",
            ["version"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "jboxmon_collector_ack_seconds",
            "Time from request received to acknowledgement",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.spool_bytes = Gauge("jboxmon_collector_spool_bytes", "Undelivered bytes in the spool", registry=r)
        self.spool_age = Gauge(
            "jboxmon_collector_spool_oldest_age_seconds", "Age of the oldest undelivered spool data", registry=r
        )
        self.influx_write = Histogram(
            "jboxmon_collector_influx_write_seconds", "InfluxDB write latency per batch", registry=r
        )
        self.influx_retries = Counter(
            "jboxmon_collector_influx_write_retries", "Batches retried after a retryable InfluxDB error", registry=r
        )
        self.written = Counter("jboxmon_collector_points_written", "Points written to InfluxDB", registry=r)
        self.dead_letters = Counter(
            "jboxmon_collector_dead_letter_lines", "Lines InfluxDB refused for good (dead letters)", registry=r
        )
        self.dead_letters_dropped = Counter(
            "jboxmon_collector_dead_letter_dropped_lines",
            "Dead letters not kept: beyond collector.dead_letter_max_bytes in one batch",
            registry=r,
        )
        self.scrapes = Counter("jboxmon_collector_scrapes", "Pull-mode scrapes by result", ["result"], registry=r)
        self.scrape_duration = Histogram("jboxmon_collector_scrape_seconds", "Pull-mode scrape duration", registry=r)
