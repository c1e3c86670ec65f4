"""The rules engine's self-metrics, on a registry of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

if TYPE_CHECKING:
    from rules.reads import BucketReader
    from rules.stream import SampleStream


class RulesMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.duration = Histogram(
            "jboxmon_rules_group_evaluation_seconds",
            "Time to evaluate a rule group",
            ["group"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.lag = Histogram(
            "jboxmon_rules_evaluation_lag_seconds",
            "From an evaluation's time (the end of the data it reads) to the end of the evaluation: a sample "
            "is seen at most one interval plus this after it arrived",
            ["group"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
            registry=r,
        )
        self.failures = Counter(
            "jboxmon_rules_evaluation_failures", "Rule evaluations that failed (states kept)", ["rule"], registry=r
        )
        self.alerts = Gauge("jboxmon_rules_alerts", "Alerts by rule and state", ["rule", "state"], registry=r)
        self.reloads = Counter("jboxmon_rules_reloads", "Rule file reloads by result", ["result"], registry=r)
        self.last_reload_ok = Gauge(
            "jboxmon_rules_last_reload_successful", "1 when the last reload succeeded", registry=r
        )


class ReadsCollector:
    """Where the rules' rows came from (InfluxDB or the write stream) and what the stream holds,
    read from the engine's reader and the stream when scraped."""

    def __init__(self, reader: Callable[[], BucketReader | None], stream: SampleStream | None) -> None:
        self.reader = reader
        self.stream = stream

    def collect(self) -> Iterator[CounterMetricFamily]:
        rows = CounterMetricFamily("jboxmon_rules_read_rows", "Rows the rules read, by source", labels=["source"])
        reader = self.reader()
        if reader is not None:
            rows.add_metric(["influxdb"], reader.rows_read)
            rows.add_metric(["stream"], reader.rows_answered)
        yield rows
        if self.stream is not None:
            stream = self.stream
            yield CounterMetricFamily("jboxmon_rules_stream_lines", "Forwarded lines held", value=stream.lines)
            yield CounterMetricFamily(
                "jboxmon_rules_stream_gaps",
                "Times the stream missed something (queries until complete)",
                value=stream.gaps,
            )
            yield CounterMetricFamily(
                "jboxmon_rules_stream_answers", "Reads answered by the stream", value=stream.answers
            )

    def describe(self) -> list:
        return []
