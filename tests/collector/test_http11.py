"""The collector's own HTTP/1.1 server, spoken to over raw sockets: what uvicorn did, it still does."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest


def connect(collector) -> socket.socket:
    address = urlparse(collector.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    return sock


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response from ``sock`` (bytes beyond it stay in ``buffer``)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response; got {bytes(buffer)!r}")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    buffer[:] = rest[length:]
    return int(status_line.split()[1]), headers, rest[:length]


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def write_request(token: str, body: bytes, *extra: str) -> bytes:
    lines = ["POST /write?precision=s HTTP/1.1", "Host: x", f"Authorization: Token {token}", *extra]
    if not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_pipelined_requests_are_answered_in_order(collector) -> None:
    token = collector.tokens["jbox-0001"]
    now = int(time.time())
    good = write_request(token, f"telemetry soc_pct=50 {now}".encode())
    bad = write_request(token, b"telemetry soc_pct=oops")
    with connect(collector) as sock:
        sock.sendall(good + bad + good)
        buffer = bytearray()
        statuses = [read_response(sock, buffer)[0] for _ in range(3)]
    assert statuses == [204, 400, 204]


def test_expect_100_continue_is_honoured(collector) -> None:
    body = f"telemetry soc_pct=51 {int(time.time())}".encode()
    with connect(collector) as sock:
        sock.sendall(
            write_request(collector.tokens["jbox-0001"], b"", f"Content-Length: {len(body)}", "Expect: 100-continue")
        )
        buffer = bytearray()
        assert read_response(sock, buffer)[0] == 100
        sock.sendall(body)
        assert read_response(sock, buffer)[0] == 204


def test_a_chunked_body_over_the_limit_is_413_and_the_connection_closed(collector_factory) -> None:
    collector = collector_factory(max_body_bytes=1000)
    chunk = b"telemetry soc_pct=1 1\n" * 30
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))
    with connect(collector) as sock:
        sock.sendall(write_request(collector.tokens["jbox-0001"], chunks, "Transfer-Encoding: chunked"))
        status, _, body = read_response(sock, bytearray())
        assert status == 413
        assert b"exceeds the limit of 1000 bytes" in body
        assert closed(sock)


def test_a_declared_length_over_the_limit_is_refused_before_the_body(collector_factory) -> None:
    collector = collector_factory(max_body_bytes=1000)
    with connect(collector) as sock:
        sock.sendall(write_request(collector.tokens["jbox-0001"], b"", "Content-Length: 5000"))
        status, _, body = read_response(sock, bytearray())
        assert status == 413
        assert b"body of 5000 bytes exceeds the limit of 1000 bytes" in body


def test_a_chunked_body_within_the_limit_is_stored(collector) -> None:
    now = int(time.time())
    lines = [f"telemetry soc_pct={i} {now - i}\n".encode() for i in range(3)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    with connect(collector) as sock:
        sock.sendall(write_request(collector.tokens["jbox-0001"], chunks, "Transfer-Encoding: chunked"))
        assert read_response(sock, bytearray())[0] == 204
    collector.drain()
    frame = collector.influx.query("SELECT soc_pct FROM telemetry WHERE jbox_id = 'jbox-0001'")
    assert sorted(frame["soc_pct"]) == [0, 1, 2]


@pytest.mark.parametrize(
    ("request_bytes", "status", "has_body"),
    [
        (b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n", 204, False),
        (b"GET /write HTTP/1.1\r\nHost: x\r\n\r\n", 405, True),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, True),
        (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404, True),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ],
)
def test_other_paths_keep_starlettes_answers(collector, request_bytes: bytes, status: int, has_body: bool) -> None:
    with connect(collector) as sock:
        sock.sendall(request_bytes)
        got, headers, body = read_response(sock, bytearray())
    assert got == status
    assert bool(body) == has_body


def test_malformed_requests_and_huge_headers_are_refused_and_closed(collector) -> None:
    with connect(collector) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 400
        assert closed(sock)
    with connect(collector) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 431
        assert closed(sock)


def test_http_1_0_closes_and_idle_keep_alive_connections_are_closed(collector) -> None:
    with connect(collector) as sock:
        sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
        status, headers, _ = read_response(sock, bytearray())
        assert (status, headers.get("connection")) == (204, "close")
        assert "GMT" in headers["date"]
        assert closed(sock)
    with connect(collector) as sock:  # an HTTP/1.0 client asking for keep-alive is told it is kept
        buffer = bytearray()
        for _ in range(2):
            sock.sendall(b"GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = read_response(sock, buffer)
            assert (status, headers.get("connection")) == (204, "keep-alive")
    with connect(collector) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 204
        server = collector.server.http.server
        deadline = time.monotonic() + 5
        while not server.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        server_loop = collector.server.http._loop
        server_loop.call_soon_threadsafe(server.sweep, time.monotonic() + server.limits.keep_alive_s + 1)
        assert closed(sock)


def test_a_client_that_does_not_read_its_answers_is_not_read_either(collector) -> None:
    """Pipelined requests whose answers pile up unread: the server stops reading instead of buffering."""
    token = collector.tokens["jbox-0001"].encode()  # a bad token would close the connection at the first request
    request = b"POST /write HTTP/1.1\r\nHost: x\r\nAuthorization: Token %s\r\nContent-Length: 0\r\n\r\n" % token
    block = memoryview(request * 1000)
    sent, limit, offset = 0, 64 << 20, 0
    with connect(collector) as sock:
        sock.setblocking(False)
        stalled_since = None
        while sent < limit:
            try:
                count = sock.send(block[offset:])
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 2:
                    break
                time.sleep(0.01)
                continue
            stalled_since = None
            sent += count
            offset = (offset + count) % len(block)
        connection = next(iter(collector.server.http.server.connections))
        buffered = connection.transport.get_write_buffer_size()
    assert sent < limit, "the server kept reading requests whose answers nobody read"
    assert buffered < 1 << 20, f"{buffered} bytes of answers buffered for a client that reads none"


def test_a_request_left_half_sent_is_408_and_closed_after_the_head_deadline(collector) -> None:
    with connect(collector) as sock:
        sock.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Le")  # and nothing more
        server = collector.server.http.server
        deadline = time.monotonic() + 5
        while not any(c.in_message for c in server.connections) and time.monotonic() < deadline:
            time.sleep(0.01)
        loop = collector.server.http._loop
        loop.call_soon_threadsafe(server.sweep, time.monotonic() + server.limits.head_timeout_s / 2)
        time.sleep(0.2)
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):  # within the bound: still open, nothing answered
            sock.recv(1)
        sock.setblocking(True)
        loop.call_soon_threadsafe(server.sweep, time.monotonic() + server.limits.head_timeout_s + 1)
        status, _, body = read_response(sock, bytearray())
        assert (status, body) == (408, b"request head not complete within 10s")
        assert closed(sock)
