"""The collector's HTTP/1.1 server: ingestion POSTs answered from the protocol, the rest by an ASGI app.

Under a fleet's load uvicorn's machinery per request (an asyncio task, ASGI message dicts, its
flow control and timers) cost as much CPU as all the ingestion stages together. An ingestion POST
needs none of it: its stages are synchronous up to the fsync, so the connection parses the request
(httptools, llhttp in C), calls the route with the whole body and a ``reply`` callback, and the
route replies when the spool is durable. The other paths (health, metrics, OpenAPI, /ping, wrong
methods) are rare and go to an ASGI application (collector/asgi.py), with Starlette's behaviour.

HTTP semantics kept: keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked), pipelined requests
answered in order, ``Expect: 100-continue``, chunked bodies, HEAD without a body, absolute-form
targets, bounded headers, TLS from an SSL context. A route's ``gate`` sees each request once its
headers are complete (the token is checked there): a refused request is answered without reading
its body. The limits and deadlines, and what a client sees at each, are in collector/httplimits.py.
llhttp is held to h11's reading of the same bytes by tests/collector/test_http_differential.py;
where llhttp is laxer than h11 (transfer codings, a missing or repeated Host, other HTTP versions),
the request is refused here. A protocol upgrade (``Upgrade: h2c``, ``websocket``) is ignored, as
RFC 9110 allows: the request is served as plain HTTP/1.1 with its whole body.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING

import httptools

from collector.httpmessage import Gate, Headers, HttpRequest, Reply, Route, encode_response

if TYPE_CHECKING:
    from collector.httpserver import HttpServer

__all__ = ["Connection", "Gate", "Headers", "HttpRequest", "Reply", "Route", "encode_response"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_QUEUED = 16  # pipelined requests parsed ahead of their turn; reading pauses beyond
RETRY_AFTER_S = b"1"

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PLAIN = [(b"content-type", b"text/plain")]
_BUSY = [(b"content-type", b"text/plain"), (b"retry-after", RETRY_AFTER_S)]
_BUDGET_SPENT = (503, _BUSY, b"too many request bodies in flight: retry later")
_ONCE = frozenset(("host", "transfer-encoding"))  # llhttp takes these repeated; RFC 9112 (and h11) refuse it
_VERSIONS = ("1.1", "1.0")


class Connection(asyncio.Protocol):
    """One client connection: parses requests, serves them one at a time, in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client = ""
        self.queue: deque[HttpRequest] = deque()
        self.current: HttpRequest | None = None
        self.last_active = time.monotonic()
        self.paused = False
        self.write_paused = False
        self.dead = False  # input is no longer parsed: a fatal error or a request refused before its body
        self.close_after = False  # close once the answers owed are written
        self.lingering = False
        self._serving = False
        self._reframe: bytes | None = None  # an upgrade request's framing, for the parser that reads its body
        self._reframing = False
        self._reset()

    def _reset(self) -> None:
        self.request: HttpRequest | None = None  # the one being read, from its headers on
        self.target = b""
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.body_parts: list[bytes] = []
        self.body_size = 0
        self.in_message = False
        self.started = 0.0  # when the request's first byte came (head deadline), then its body's

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client = peer[0] if isinstance(peer, tuple) and peer else ""
        if not self.server.admit_connection(self):  # answered at once and closed: it holds no descriptor
            self.dead = True
            _drain(transport)
            transport.write(encode_response(503, _BUSY, b"too many connections", b"close", date=self.server.date))
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.forget(self)
        for request in (self.request, self.current, *self.queue):
            if request is not None:
                self.server.release(request)
        self.transport = None  # a late reply (fsync finishing) is dropped: nobody is listening

    def pause_writing(self) -> None:
        # the client does not read its answers: stop reading its requests until it does
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        want_paused = (self.write_paused or len(self.queue) > MAX_QUEUED) and not self.lingering
        if want_paused != self.paused and self.transport is not None:
            self.paused = want_paused
            if want_paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.dead:  # a refused request's unread rest, or a lingering close: discarded, never kept
            return
        self.last_active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._read_on_after_upgrade(data, exc.args[0])
        except httptools.HttpParserError as exc:
            self._parse_error(exc)

    def _read_on_after_upgrade(self, data: bytes, offset: int) -> None:
        """llhttp stops at an upgrade request's headers and leaves its body unread: a new parser reads
        it, and what follows, given the request's own framing as a stand-in head."""
        while not self.dead:
            self.parser = httptools.HttpRequestParser(self)
            self._reframing = True
            framing, self._reframe = self._reframe, None
            data = framing + data[offset:]
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as exc:  # the next pipelined request asks too
                offset = exc.args[0]
            except httptools.HttpParserError as exc:
                self._parse_error(exc)

    def _parse_error(self, exc: httptools.HttpParserError) -> None:
        if self.dead:  # a callback's own refusal (oversize headers, a refused token) already answered
            return
        text = str(exc)
        if "HTTP version" in text or "PRI" in text:  # HTTP/2's preface, HTTP/1.2...
            self._fatal(505, b"only HTTP/1.1 and HTTP/1.0 are served")
        else:
            self._fatal(400, b"malformed HTTP request: " + text.encode(errors="replace")[:200])

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        if self._reframing:
            return
        self._reset()
        self.in_message = True
        self.started = self.last_active  # the head deadline counts from here (set by data_received)

    def on_url(self, url: bytes) -> None:
        if self._reframing:
            return
        self.target += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._reframing:
            return
        self.header_bytes += len(name) + len(value)
        headers = self.headers
        if self.header_bytes > MAX_HEADER_BYTES or len(headers) >= MAX_HEADERS:
            self._count_header_bytes(0)  # raises when the bytes are too many
            self._fatal(431, b"too many headers")
            raise httptools.HttpParserError("too many headers")
        key = name.decode("latin-1").lower()
        if key not in headers:
            headers[key] = value.decode("latin-1")
        elif key in _ONCE:
            self._fatal(400, b"more than one %s header" % name)
            raise httptools.HttpParserError("repeated header")

    def _count_header_bytes(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_HEADER_BYTES:
            self._fatal(431, b"request headers too large")
            raise httptools.HttpParserError("headers too large")

    def on_headers_complete(self) -> None:
        if self._reframing:
            return
        parser, headers, server = self.parser, self.headers, self.server
        method, version, upgrade = parser.get_method(), parser.get_http_version(), parser.should_upgrade()
        if upgrade or version != "1.1" or "host" not in headers or "transfer-encoding" in headers:
            self._check_head(method, version)  # the rare cases, in full: raises when refused
        if not self.target.isascii():
            self._fatal(400, b"the request target must be ASCII")
            raise httptools.HttpParserError("target")
        request = self.request = HttpRequest(
            method.decode("latin-1"), self.target, headers, b"", parser.should_keep_alive(), version == "1.0"
        )
        if upgrade:
            self._reframe = self._framing(request)
        self.started = self.last_active  # the body's deadline counts from here
        gate = server.gates.get(request.path) if method == b"POST" else None
        if gate is not None:
            self._pass_gate(gate, request)
        elif server.routeless_bodies_unread and (method != b"POST" or request.path not in server.routes):
            if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
                request.refusal = "a body is not read here"  # the fallback answers (404, 405) without it
                self._refuse_before_body(request)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit():
            size = int(declared)
            if size > server.limits.max_body_bytes:
                request.oversize = True
                self._refuse_before_body(request)
            if size and not server.reserve(request, size):
                request.answer = _BUDGET_SPENT
                self._refuse_before_body(request)
        if "expect" in headers and headers["expect"].lower() == "100-continue" and self.current is None:
            if not self.queue:  # a pipelined request gets no 100: the client sends its body anyway
                self.transport.write(_CONTINUE)

    def _pass_gate(self, gate: Gate, request: HttpRequest) -> None:
        try:
            refusal = gate(request)
        except Exception:  # a gate's bug: one 500, the connection closed, the server lives on
            log.exception("the gate of %s failed", request.path)
            self._fatal(500, b"internal server error")
            raise httptools.HttpParserError("gate failed") from None
        if refusal is not None:
            request.refusal = refusal
            self._refuse_before_body(request)

    def _check_head(self, method: bytes, version: str) -> None:
        """What llhttp reads but h11 (and RFC 9112) refuse: answered and the input closed."""
        if version not in _VERSIONS:  # HTTP/0.9 (no version), HTTP/2.0 in a request line
            self._fatal(505, b"only HTTP/1.1 and HTTP/1.0 are served")
            raise httptools.HttpParserError("HTTP version not served")
        if method == b"CONNECT":  # a tunnel: llhttp stops reading at its headers
            self._fatal(405, b"CONNECT is not supported")
            raise httptools.HttpParserError("CONNECT")
        coding = self.headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            self._fatal(501, b"only Transfer-Encoding: chunked is supported")
            raise httptools.HttpParserError("transfer coding")
        if version == "1.1" and "host" not in self.headers:
            self._fatal(400, b"an HTTP/1.1 request needs a Host header")
            raise httptools.HttpParserError("no host")

    def _framing(self, request: HttpRequest) -> bytes:
        """A stand-in head with the request's framing, for the parser that reads an upgrade request's body."""
        if "transfer-encoding" in self.headers:
            framing = b"transfer-encoding: chunked\r\n"
        else:
            framing = b"content-length: %s\r\n" % self.headers.get("content-length", "0").encode()
        connection = b"" if request.keep_alive else b"connection: close\r\n"
        return b"POST / HTTP/1.1\r\nhost: x\r\n" + framing + connection + b"\r\n"

    def on_body(self, chunk: bytes) -> None:
        self.body_size += len(chunk)
        request = self.request
        if self.body_size > self.server.limits.max_body_bytes:
            request.oversize = True
            self._refuse_before_body(request)
        if self.body_size > request.reserved and not self.server.reserve(request, self.body_size):
            request.answer = _BUDGET_SPENT  # a chunked body past the in-flight budget
            self._refuse_before_body(request)
        self.body_parts.append(chunk)

    def on_message_complete(self) -> None:
        if self._reframe is not None:  # an upgrade request: its body is read by the next parser
            return
        self._reframing = False
        request = self.request
        request.body = b"".join(self.body_parts) if len(self.body_parts) != 1 else self.body_parts[0]
        self.in_message = False
        self.request = None
        self._enqueue(request)

    # -- serving
    def _refuse_before_body(self, request: HttpRequest) -> None:
        """Serve ``request`` without (the rest of) its body, read nothing more, close after its answer."""
        self.server.release(request)
        request.body = b""
        self.body_parts = []  # what was read of it is dropped now, not when the connection goes
        request.keep_alive = False
        self.dead = True
        self.in_message = False
        self.request = None
        self._enqueue(request)
        raise httptools.HttpParserError("refused before the body")  # stop parsing: nothing more is read

    def _enqueue(self, request: HttpRequest) -> None:
        self.queue.append(request)
        if len(self.queue) > MAX_QUEUED and not self.paused:
            self._update_reading()
        if self.current is None:
            self._serve_next()

    def _serve_next(self) -> None:
        if self._serving:  # a route answering synchronously: the loop below picks the next one
            return
        self._serving = True
        try:
            while self.current is None and self.queue and self.transport is not None:
                request = self.current = self.queue.popleft()
                if self.paused and not self.write_paused and len(self.queue) <= MAX_QUEUED // 2:
                    self._update_reading()
                self._dispatch(request)
        finally:
            self._serving = False

    def _dispatch(self, request: HttpRequest) -> None:
        route = self.server.routes.get(request.path) if request.method == "POST" else None
        try:
            if request.answer is not None:
                self.reply(*request.answer)
            elif route is not None:
                route(request, self.reply)
            elif request.oversize:
                self.reply(413, _PLAIN, b"request body too large")
            else:
                self.server.fallback(request, self.reply)
        except Exception:  # a route's bug: the client gets a 500, the connection and the server live on
            log.exception("unhandled error serving %s %s", request.method, request.path)
            if self.current is request:
                self.reply(500, _PLAIN, b"internal server error")

    def reply(self, status: int, headers: Headers, body: bytes) -> None:
        """Write the answer to the current request, then serve the next one queued."""
        request = self.current
        if request is None or self.transport is None:
            return
        self.current = None
        if request.reserved:
            self.server.release(request)
        # closing (a fatal input error, or the server stopping) waits until the queued answers are written
        keep_alive = request.keep_alive and not (self.close_after and not self.queue)
        connection = (b"keep-alive" if request.http10 else b"") if keep_alive else b"close"
        response = encode_response(status, headers, body, connection, request.method == "HEAD", self.server.date)
        self.transport.write(response)
        self.last_active = time.monotonic()
        if not keep_alive:
            self._linger() if self.dead else self.transport.close()
            self.dead = True  # what the client sent after this request is not read
            return
        if self.queue:
            self._serve_next()

    def _fatal(self, status: int, message: bytes, linger: bool = True) -> None:
        """The input cannot be read on: answer (in turn) and close."""
        self.dead = True
        self.in_message = False
        if self.transport is None:
            return
        if self.current is None and not self.queue:
            self.transport.write(encode_response(status, _PLAIN, message, b"close", date=self.server.date))
            self._linger() if linger else self.transport.close()
        else:  # answers still owed: they go first, then the connection closes without one for the bad input
            self.close_after = True

    def _linger(self) -> None:
        """Close after a refusal: stop sending, discard what the client still sends for up to
        ``linger_s``, then close; the client reads its answer rather than a connection reset."""
        transport = self.transport
        if self.lingering or transport is None:
            return
        if not transport.can_write_eof() or not self.server.start_lingering(self):
            transport.close()
            return
        self.lingering = True
        self.last_active = time.monotonic()
        transport.write_eof()
        self._update_reading()

    def check_deadlines(self, now: float) -> None:
        """Called every second: close what overstayed (collector/httplimits.py says what)."""
        limits = self.server.limits
        if self.transport is None:
            return
        if self.lingering:
            if now - self.last_active > limits.linger_s:
                self.transport.close()
        elif self.in_message and not self.dead:
            if self.request is None and now - self.started > limits.head_timeout_s:
                self.server.count_refusal("head_timeout")
                self._fatal(408, b"request head not complete within %gs" % limits.head_timeout_s, linger=False)
            elif self.request is not None and limits.body_overdue(now - self.started, self.body_size):
                self.server.count_refusal("body_rate")
                self._fatal(408, b"request body arriving too slowly", linger=False)
        elif self.idle and now - self.last_active > limits.keep_alive_s:
            self.transport.close()

    @property
    def idle(self) -> bool:
        return self.current is None and not self.queue and not self.in_message


def _drain(transport: asyncio.BaseTransport) -> None:
    """Read and drop what a client already sent on a connection about to be refused: closing a socket
    with unread input sends a reset, which would drop the answer too."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        for _ in range(16):  # at most 1 MiB: a client still sending after that reads a reset
            if not os.read(sock.fileno(), 65536):
                return
    except OSError:  # nothing more to read (EAGAIN), or the client is gone already
        return
