"""The retention runner's self-metrics (prometheus-client, one registry per runner)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class RetentionMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["measurement"]
        self.rows_archived = Counter(
            "jboxmon_retention_rows_archived",
            "Rows written to the archive and verified",
            labels,
            registry=self.registry,
        )
        self.bytes_archived = Counter(
            "jboxmon_retention_bytes_archived", "Parquet bytes written and verified", labels, registry=self.registry
        )
        self.rows_deleted = Counter(
            "jboxmon_retention_rows_deleted",
            "Rows deleted from InfluxDB after verification",
            labels,
            registry=self.registry,
        )
        self.points_downsampled = Counter(
            "jboxmon_retention_points_downsampled", "Downsampled points written", ["tier"], registry=self.registry
        )
        self.pass_duration = Gauge(
            "jboxmon_retention_pass_duration_seconds", "Duration of the last pass", registry=self.registry
        )
        self.last_success = Gauge(
            "jboxmon_retention_last_success_timestamp_seconds",
            "End of the last successful pass (unix time)",
            registry=self.registry,
        )
        self.failures = Counter("jboxmon_retention_pass_failures", "Passes that failed", registry=self.registry)

    def record(self, report) -> None:
        """Add one pass's counts (a ``runner.PassReport``, possibly from a child process)."""
        for measurement, counts in report.by_measurement.items():
            self.rows_archived.labels(measurement).inc(counts.get("rows_archived", 0))
            self.bytes_archived.labels(measurement).inc(counts.get("bytes_archived", 0))
            self.rows_deleted.labels(measurement).inc(counts.get("rows_deleted", 0))
        for tier, points in report.by_tier.items():
            self.points_downsampled.labels(tier).inc(points)
