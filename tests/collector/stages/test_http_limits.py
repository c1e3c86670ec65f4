"""The HTTP server's limits as a state machine, time injected through ``sweep(now)``: deadlines,
the in-flight body budget for chunked bodies, lingering closes, the caps at connect. The socket is
the one seam replaced here (tests/collector/test_http_edge.py meets the same limits over sockets)."""

from __future__ import annotations

import subprocess
import sys

from collector.http11 import Connection
from collector.httplimits import HttpLimits
from collector.httpserver import HttpServer
from tests.collector.test_http_differential import Recorder

HEAD = b"POST /write HTTP/1.1\r\nHost: x\r\n"


def served(limits: HttpLimits) -> tuple[HttpServer, list[bytes]]:
    bodies: list[bytes] = []

    def route(request, reply) -> None:
        bodies.append(request.body)
        reply(204, [], b"")

    return HttpServer({"/write": route}, route, limits), bodies


def connect(server: HttpServer, client: str = "127.0.0.1") -> tuple[Connection, Recorder]:
    connection, transport = Connection(server), Recorder()
    transport.get_extra_info = lambda name, default=None: (client, 1) if name == "peername" else default
    connection.connection_made(transport)
    return connection, transport


def status_of(transport: Recorder) -> int:
    return int(bytes(transport.written).split(b" ", 2)[1])


def test_a_head_past_its_deadline_is_408_and_closed_and_a_quiet_connection_closed_silently() -> None:
    server, _ = served(HttpLimits(head_timeout_s=10, keep_alive_s=30))
    slow, slow_transport = connect(server)
    quiet, quiet_transport = connect(server)
    slow.data_received(HEAD + b"X-Slow: a")
    started = slow.started
    server.sweep(started + 9)
    assert not slow_transport.closed
    server.sweep(started + 11)
    assert (status_of(slow_transport), slow_transport.closed) == (408, True)
    assert not quiet_transport.closed  # no request begun: the keep-alive bound applies
    server.sweep(quiet.last_active + 31)
    assert quiet_transport.closed and not quiet_transport.written
    assert server.refused == {"head_timeout": 1}


def test_a_body_below_the_minimum_rate_is_408_after_the_grace() -> None:
    server, bodies = served(HttpLimits(body_timeout_s=10, body_min_rate=1000))
    connection, transport = connect(server)
    connection.data_received(HEAD + b"Content-Length: 100000\r\n\r\n" + b"x" * 5000)
    started = connection.started
    server.sweep(started + 14)  # 5,000 bytes in 14 s: within 10 s + 5,000 / 1,000
    assert not transport.closed
    server.sweep(started + 16)
    assert (status_of(transport), transport.closed, bodies) == (408, True, [])
    assert server.inflight == 100000  # still counted until the connection is gone
    connection.connection_lost(None)
    assert server.inflight == 0


def test_a_chunked_body_past_the_in_flight_budget_is_503_and_gives_its_bytes_back() -> None:
    server, bodies = served(HttpLimits(max_body_bytes=1000, inflight_body_bytes=1500))
    holder, _ = connect(server)
    holder.data_received(HEAD + b"Content-Length: 1000\r\n\r\n")  # 1,000 of 1,500 declared
    connection, transport = connect(server)
    chunk = b"x" * 300
    connection.data_received(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (300, chunk))
    assert server.inflight == 1300
    connection.data_received(b"%x\r\n%s\r\n" % (300, chunk))  # 600 would pass the budget
    response = bytes(transport.written)
    assert response.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1\r\n" in response
    assert transport.eof and not bodies  # lingering: answered, then the rest is read and dropped
    assert server.inflight == 1000
    connection.data_received(b"more of the body")  # discarded, not kept
    assert server.inflight == 1000 and connection.body_parts == []
    server.sweep(connection.last_active + server.limits.linger_s + 1)
    assert transport.closed


def test_connections_beyond_the_caps_are_answered_503_at_once() -> None:
    server, _ = served(HttpLimits(max_connections=3, max_connections_per_client=2))
    kept = [connect(server, "10.0.0.1")[1] for _ in range(2)]
    over_client = connect(server, "10.0.0.1")[1]
    other = connect(server, "10.0.0.2")[1]
    over_all = connect(server, "10.0.0.3")[1]
    assert [t.closed for t in kept] == [False, False]
    assert not other.closed
    for transport in (over_client, over_all):
        assert transport.closed and status_of(transport) == 503
    assert server.refused == {"client_connections": 1, "connections": 1}
    assert server.per_client == {"10.0.0.1": 2, "10.0.0.2": 1}


def test_the_connection_cap_stays_below_the_open_file_limit() -> None:
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256));"
        "from collector.httplimits import HttpLimits, descriptor_budget;"
        "print(*descriptor_budget(HttpLimits()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["192", "32"]  # 256 less a reserve of 64, half of it for lingering closes
