"""The HTTP server's edge in ``/metrics``: connections held, body bytes in flight, and what its
limits refused (collector/httplimits.py), read from the server when scraped (nothing per request)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from collector.httpserver import HttpServer


class EdgeMetrics:
    """A prometheus-client collector over one ``HttpServer``; ``register`` adds it to a registry."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server

    def register(self, registry: CollectorRegistry) -> EdgeMetrics:
        registry.register(self)
        return self

    def collect(self):
        server = self.server
        connections = GaugeMetricFamily(
            "jboxmon_collector_http_connections", "Open client connections (and the cap in force)", labels=["kind"]
        )
        connections.add_metric(["open"], len(server.connections))
        connections.add_metric(["lingering"], len(server.lingering))
        connections.add_metric(["cap"], server.max_connections)
        yield connections
        yield GaugeMetricFamily(
            "jboxmon_collector_http_inflight_body_bytes",
            "Request body bytes read or declared and not yet answered",
            value=server.inflight,
        )
        refused = CounterMetricFamily(
            "jboxmon_collector_http_refused",
            "Connections and requests refused or closed by a limit of the HTTP server",
            labels=["limit"],
        )
        for limit, count in sorted(server.refused.copy().items()):
            refused.add_metric([limit], count)
        yield refused
