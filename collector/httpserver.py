"""The listening side of the collector's HTTP server: a ``Connection`` (collector/http11.py) per
client, routes and their gates by path, and the shared bounds of collector/httplimits.py (the
connection caps, the in-flight body budget, the deadlines swept every second)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from email.utils import formatdate

from collector.http11 import Connection
from collector.httplimits import HttpLimits, descriptor_budget
from collector.httpmessage import Gate, HttpRequest, Route

log = logging.getLogger(__name__)


class HttpServer:
    """The listening side: routes (and their gates) by exact path for POST, an ASGI ``fallback`` for
    everything else, the connection caps and the in-flight body budget of collector/httplimits.py."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        fallback: Route,
        limits: HttpLimits | None = None,
        gates: Mapping[str, Gate] | None = None,
        routeless_bodies_unread: bool = False,
    ) -> None:
        self.routes = dict(routes)
        self.gates = dict(gates or {})
        # the fallback needs no body (the collector's other paths take none): it is not read, and
        # the connection closes after the answer, so a client without a token fills no memory there
        self.routeless_bodies_unread = routeless_bodies_unread
        self.fallback = fallback
        self.limits = limits = limits or HttpLimits()
        # bounded by the open-file limit in start_serving()
        self.max_connections, self.max_lingering = limits.max_connections, limits.max_lingering
        self.connections: set[Connection] = set()
        self.per_client: dict[str, int] = {}
        self.lingering: set[Connection] = set()
        self.inflight = 0  # body bytes read (or declared) and not yet answered, all connections
        self.refused: dict[str, int] = {}  # reason -> connections or requests refused, for /metrics
        self.date = b""
        self.tick()

    def tick(self) -> None:
        """Refresh the ``date:`` header line (called every second): formatting it per answer would cost more."""
        self.date = b"date: %s\r\n" % formatdate(usegmt=True).encode()

    def protocol(self) -> Connection:
        return Connection(self)

    def start_serving(self) -> None:
        """Called by the thread that serves, before it listens: the connection cap within the open-file limit."""
        self.max_connections, self.max_lingering = descriptor_budget(self.limits)
        if self.max_connections < self.limits.max_connections:
            log.warning(
                "at most %d connections (collector.http.max_connections is %d): the open-file limit is lower",
                self.max_connections,
                self.limits.max_connections,
            )

    def admit_connection(self, connection: Connection) -> bool:
        per_client = self.per_client.get(connection.client, 0)
        if len(self.connections) >= self.max_connections:
            return self.count_refusal("connections")
        cap = self.limits.max_connections_per_client
        if cap and per_client >= cap:
            return self.count_refusal("client_connections")
        self.connections.add(connection)
        self.per_client[connection.client] = per_client + 1
        return True

    def forget(self, connection: Connection) -> None:
        self.lingering.discard(connection)
        if connection in self.connections:
            self.connections.discard(connection)
            left = self.per_client[connection.client] - 1
            if left:
                self.per_client[connection.client] = left
            else:
                del self.per_client[connection.client]

    def start_lingering(self, connection: Connection) -> bool:
        if len(self.lingering) >= self.max_lingering:
            return False
        self.lingering.add(connection)
        return True

    def reserve(self, request: HttpRequest, size: int) -> bool:
        """Count ``request``'s body as ``size`` bytes in flight; False (nothing counted) past the budget."""
        grow = size - request.reserved
        if grow > 0 and self.inflight + grow > self.limits.inflight_body_bytes:
            return self.count_refusal("inflight_body_bytes")
        self.inflight += grow
        request.reserved = size
        return True

    def release(self, request: HttpRequest) -> None:
        self.inflight -= request.reserved
        request.reserved = 0

    def count_refusal(self, reason: str) -> bool:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        return False

    def sweep(self, now: float) -> None:
        """Deadlines of every connection (called every second by collector/serving.py)."""
        for connection in list(self.connections) + list(self.lingering):
            connection.check_deadlines(now)

    def begin_shutdown(self) -> None:
        """Close what is idle now; a connection owing an answer closes once it has written it."""
        for connection in list(self.connections):
            connection.close_after = True
            if connection.idle and connection.transport is not None:
                connection.transport.close()

    def abort_all(self) -> None:
        for connection in list(self.connections) + list(self.lingering):
            if connection.transport is not None:
                connection.transport.abort()
