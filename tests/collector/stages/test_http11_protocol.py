"""The HTTP/1.1 connection as a state machine (property test): any stream of requests, cut into
any pieces, answered in order, each exactly once, with its own body; answers that come later (an
fsync in flight) hold the next request back. The socket is the one seam replaced here."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.http11 import Connection
from collector.httplimits import HttpLimits
from collector.httpserver import HttpServer


class Transport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 4242) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


request_strategy = st.tuples(
    st.sampled_from(["/now", "/later", "/elsewhere"]),
    st.binary(max_size=300),
    st.booleans(),  # chunked
)


def encode(path: str, body: bytes, chunked: bool) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode()
    if chunked:
        pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
        return (
            head
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
            + b"0\r\n\r\n"
        )
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def responses(stream: bytes) -> list[tuple[int, bytes]]:
    out = []
    while stream:
        head, _, rest = stream.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", 0))
        out.append((int(lines[0].split()[1]), rest[:length]))
        stream = rest[length:]
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(request_strategy, min_size=1, max_size=12), st.lists(st.integers(1, 400), max_size=40))
def test_any_stream_cut_anywhere_is_answered_in_order(requests, cuts) -> None:
    later: list = []

    def now(request, reply) -> None:
        reply(200, [], request.body)

    def deferred(request, reply) -> None:
        later.append((reply, request.body))

    def elsewhere(request, reply) -> None:
        reply(404, [], b"404:" + request.body)

    server = HttpServer({"/now": now, "/later": deferred}, elsewhere, HttpLimits(max_body_bytes=1 << 20))
    connection, transport = Connection(server), Transport()
    connection.connection_made(transport)
    stream = b"".join(encode(*request) for request in requests)
    position = 0
    for cut in [*cuts, len(stream)]:
        connection.data_received(stream[position : position + cut])
        position += cut
        while later and position % 3 == 0:  # some deferred answers come before more input arrives
            reply, body = later.pop(0)
            reply(202, [], body)
        if position >= len(stream):
            break
    while later:
        reply, body = later.pop(0)
        reply(202, [], body)
    expected = [{"/now": 200, "/later": 202, "/elsewhere": 404}[path] for path, _, _ in requests]
    got = responses(bytes(transport.written))
    assert [status for status, _ in got] == expected
    assert [body.removeprefix(b"404:") for _, body in got] == [body for _, body, _ in requests]
    assert not transport.closed
