"""The collector's edge, over raw sockets: upgrades served plainly, other versions refused, the token
checked before the body, deadlines, connection caps and the in-flight body budget."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from tests.collector.test_http11 import closed, connect, read_response, write_request


def request(path: str, token: str, body: bytes, *extra: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"POST {path} {version}", "Host: x", f"Authorization: Token {token}", *extra]
    if not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answers(sock: socket.socket, wait_s: float = 1.0) -> list[int]:
    """Every status the server writes until it closes (or goes quiet for ``wait_s``)."""
    buffer, statuses = bytearray(), []
    sock.settimeout(wait_s)
    try:
        while True:
            statuses.append(read_response(sock, buffer)[0])
    except (ConnectionError, TimeoutError, OSError):
        return statuses


UPGRADES = [
    ("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"),
    ("Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
     "Sec-WebSocket-Version: 13"),
]  # fmt: skip


@pytest.mark.parametrize("upgrade", UPGRADES, ids=["h2c", "websocket"])
def test_an_upgrade_request_is_served_as_http_1_1_with_its_whole_body(collector, upgrade) -> None:
    token, now = collector.tokens["jbox-0001"], int(time.time())

    def three(value: int) -> list[bytes]:  # line protocol on both write paths, and payload v2
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - value - 2))
        v2 = {"header": {"jbox_id": "jbox-0001", "fw_version": "1", "sent_at": stamp, "seq": 1},
              "samples": [{"time": stamp, "soc_pct": value + 2.0}]}  # fmt: skip
        return [
            request("/write?precision=s", token, f"telemetry soc_pct={value} {now - value}".encode(), *upgrade),
            request("/api/v2/write?precision=s", token, f"telemetry soc_pct={value + 1} {now - value - 1}".encode(),
                    *upgrade),  # fmt: skip
            request("/v2/telemetry", token, json.dumps(v2).encode(), "Content-Type: application/json", *upgrade),
        ]

    for data in three(31):  # one request per connection, then three pipelined on one
        with connect(collector) as sock:
            sock.sendall(data)
            assert answers(sock) in ([204], [202])  # one answer, never a 101
    with connect(collector) as sock:
        sock.sendall(b"".join(three(41)))
        assert answers(sock) == [204, 204, 202]
    collector.drain()
    frame = collector.influx.query("SELECT soc_pct FROM telemetry WHERE jbox_id = 'jbox-0001'")
    assert sorted(frame["soc_pct"]) == [31, 32, 33, 41, 42, 43]


@pytest.mark.parametrize(
    "data",
    [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"POST /write HTTP/2.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST /write HTTP/1.2\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST /write\r\n\r\n",
    ],
    ids=["h2-preface", "2.0", "1.2", "0.9"],
)
def test_other_http_versions_are_505_and_closed(collector, data: bytes) -> None:
    with connect(collector) as sock:
        sock.sendall(data)
        assert answers(sock) == [505]
        assert closed(sock)


def test_an_absolute_form_target_is_routed_by_its_path(collector) -> None:
    now = int(time.time())
    data = request(f"http://127.0.0.1:{collector.server.port}/write?precision=s", collector.tokens["jbox-0001"],
                   f"telemetry soc_pct=44 {now}".encode())  # fmt: skip
    with connect(collector) as sock:
        sock.sendall(data)
        assert answers(sock) == [204]
    collector.drain()
    assert list(collector.influx.query("SELECT soc_pct FROM telemetry")["soc_pct"]) == [44]


def test_a_request_without_a_valid_token_is_refused_before_its_body(collector) -> None:
    server = collector.server.http.server
    with connect(collector) as sock:  # 10 MB declared, a few bytes sent: the answer comes at once
        sock.sendall(write_request("bogus", b"telemetry soc_pct=1", "Content-Length: 10000000"))
        status, _, body = read_response(sock, bytearray())
        assert status == 401
        assert b"token" in body
        assert closed(sock)
    assert server.inflight == 0
    with connect(collector) as sock:  # Expect: 100-continue: no 100 for a bad token
        sock.sendall(write_request("bogus", b"", "Content-Length: 50", "Expect: 100-continue"))
        assert answers(sock) == [401]
    with connect(collector) as sock:  # and a 100 for a good one
        body = f"telemetry soc_pct=9 {int(time.time())}".encode()
        sock.sendall(write_request(collector.tokens["jbox-0001"], b"", f"Content-Length: {len(body)}",
                                   "Expect: 100-continue"))  # fmt: skip
        buffer = bytearray()
        assert read_response(sock, buffer)[0] == 100
        sock.sendall(body)
        assert read_response(sock, buffer)[0] == 204


def test_a_body_sent_to_any_other_path_is_not_read(collector) -> None:
    with connect(collector) as sock:  # 10 MB declared, none sent: answered at once, closed
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nabc")
        assert answers(sock) == [404]
        assert closed(sock)
    with connect(collector) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert answers(sock) in ([200], [503])
    assert collector.server.http.server.inflight == 0


def test_a_gateway_token_on_a_json_route_is_403_before_the_body(collector) -> None:
    from inventory import Registry

    with Registry(collector.service.registry.path) as registry:
        gateway_token = registry.issue_gateway("gw-1", site="site-0")
    deadline = time.monotonic() + 5
    while collector.service.authenticate(gateway_token) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    with connect(collector) as sock:
        sock.sendall(request("/v2/telemetry", gateway_token, b"{", "Content-Length: 5000000"))
        status, _, body = read_response(sock, bytearray())
        assert status == 403
        assert b"line protocol" in body
        assert closed(sock)


def test_a_header_dribbler_is_closed_with_408_while_others_are_served(collector_factory) -> None:
    collector = collector_factory(http={"head_timeout": 1, "body_timeout": 1, "body_min_rate": 1000})
    token = collector.tokens["jbox-0001"]
    slow = [connect(collector) for _ in range(5)]
    for sock in slow:
        sock.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    slow_body = connect(collector)
    slow_body.sendall(write_request(token, b"", "Content-Length: 100000"))
    started = time.monotonic()
    try:
        while time.monotonic() - started < 3.5:
            for sock in slow:
                sock.sendall(b"a")  # a header value one byte at a time: never a whole head
            slow_body.sendall(b"y")
            began = time.monotonic()
            with connect(collector) as sock:
                sock.sendall(write_request(token, f"telemetry soc_pct=5 {int(time.time())}".encode()))
                assert read_response(sock, bytearray())[0] == 204
            assert time.monotonic() - began < 0.5
            time.sleep(0.3)
    except (BrokenPipeError, ConnectionResetError):
        pass
    for sock in [*slow, slow_body]:
        assert answers(sock, wait_s=3) == [408]
        sock.close()
    assert time.monotonic() - started < 6


def test_connections_beyond_the_per_client_cap_are_503(collector_factory) -> None:
    collector = collector_factory(http={"max_connections_per_client": 3})
    held = [connect(collector) for _ in range(3)]
    for sock in held:  # all three served
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 204
    with connect(collector) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(sock, bytearray())
        assert (status, headers["retry-after"]) == (503, "1")
        assert closed(sock)
    held.pop().close()
    deadline = time.monotonic() + 5
    while len(collector.server.http.server.connections) > 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    with connect(collector) as sock:  # a place is free again
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 204
    for sock in held:
        sock.close()
    metrics = requests.get(collector.url + "/metrics", timeout=10).text
    assert 'jboxmon_collector_http_refused_total{limit="client_connections"} 1.0' in metrics


def test_bodies_beyond_the_in_flight_budget_are_503_with_retry_after(collector_factory) -> None:
    collector = collector_factory(max_body_bytes=1000, http={"inflight_body_bytes": 2500})
    token = collector.tokens["jbox-0001"]
    holding = [connect(collector) for _ in range(2)]
    for sock in holding:  # 2 x 1,000 bytes declared, not yet sent: 2,000 of 2,500 in flight
        sock.sendall(write_request(token, b"", "Content-Length: 1000"))
    deadline = time.monotonic() + 5
    while collector.server.http.server.inflight < 2000 and time.monotonic() < deadline:
        time.sleep(0.02)
    with connect(collector) as sock:
        sock.sendall(write_request(token, b"", "Content-Length: 1000"))
        status, headers, body = read_response(sock, bytearray())
        assert (status, headers["retry-after"]) == (503, "1")
        assert b"in flight" in body
    with connect(collector) as sock:  # a small body still fits
        sock.sendall(write_request(token, f"telemetry soc_pct=7 {int(time.time())}".encode()))
        assert read_response(sock, bytearray())[0] == 204
    for sock in holding:
        sock.close()
    deadline = time.monotonic() + 5
    while collector.server.http.server.inflight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert collector.server.http.server.inflight == 0  # given back when the clients went away
