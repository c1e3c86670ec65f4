"""The collector's HTTP/1.1 server: ingestion POSTs answered from the protocol, the rest by an ASGI app.

Under a fleet's load uvicorn's machinery per request (an asyncio task, ASGI message dicts, its
flow control and timers) cost as much CPU as all the ingestion stages together. An ingestion POST
needs none of it: its stages are synchronous up to the fsync, so the connection parses the request
(httptools, llhttp in C), calls the route with the whole body and a ``reply`` callback, and the
route replies when the spool is durable. The other paths (health, metrics, OpenAPI, /ping, wrong
methods) are rare and go to an ASGI application (collector/asgi.py), with Starlette's behaviour.

HTTP semantics kept: keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked), pipelined requests
answered in order, ``Expect: 100-continue``, chunked bodies, HEAD without a body, the body limit
enforced while reading (a declared or streamed body over it is answered 413 and the connection
closed), bounded headers, idle connections closed after ``keep_alive_s``, TLS from an SSL context.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

import httptools

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
Reply = Callable[[int, Headers, bytes], None]

MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_QUEUED = 16  # pipelined requests parsed ahead of their turn; reading pauses beyond

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()) for status in HTTPStatus}


class HttpRequest:
    """One request, whole: lower-case header names (the first of a repeated name wins, as Starlette's
    ``Headers.get``), the body read (or ``oversize`` when it passed the limit and was not kept)."""

    __slots__ = ("_query", "body", "headers", "http10", "keep_alive", "method", "oversize", "path", "query_string")

    def __init__(
        self, method: str, target: bytes, headers: dict[str, str], body: bytes, keep_alive: bool, http10: bool = False
    ) -> None:
        self.method = method
        self.http10 = http10
        raw_path, _, query = target.partition(b"?")
        path = raw_path.decode("latin-1")
        self.path = unquote(path) if "%" in path else path
        self.query_string = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.oversize = False
        self._query: dict[str, str] | None = None

    @property
    def query_params(self) -> dict[str, str]:
        """Query parameters; the last of a repeated name wins, as with Starlette's ``QueryParams``."""
        if self._query is None:
            text = self.query_string.decode("latin-1")
            self._query = dict(parse_qsl(text, keep_blank_values=True)) if text else {}
        return self._query


Route = Callable[[HttpRequest, Reply], None]  # calls ``reply`` once, now or later


def encode_response(
    status: int, headers: Headers, body: bytes, connection: bytes = b"", head: bool = False, date: bytes = b""
) -> bytes:
    """The bytes of a response; ``content-length`` is written here, so any given one is dropped.
    ``connection`` is the Connection header's value when one is needed ("close", or "keep-alive"
    for an HTTP/1.0 client that asked for it); ``date`` a whole ``date:`` header line."""
    parts = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status, date]
    for name, value in headers:
        if name.lower() != b"content-length":
            parts.append(b"%s: %s\r\n" % (name, value))
    if status >= 200 and status not in (204, 304):
        parts.append(b"content-length: %d\r\n" % len(body))
    if connection:
        parts.append(b"connection: %s\r\n" % connection)
    parts.append(b"\r\n")
    if not head:
        parts.append(body)
    return b"".join(parts)


class Connection(asyncio.Protocol):
    """One client connection: parses requests, serves them one at a time, in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[HttpRequest] = deque()
        self.current: HttpRequest | None = None
        self.last_active = time.monotonic()
        self.paused = False
        self.write_paused = False
        self.dead = False  # input is no longer read: a fatal error or an oversize body
        self.close_after = False  # the server stops: close once the current answer is written
        self._serving = False
        self._reset()

    def _reset(self) -> None:
        self.target = b""
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.body_parts: list[bytes] = []
        self.body_size = 0
        self.in_message = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None  # a late reply (fsync finishing) is dropped: nobody is listening

    def pause_writing(self) -> None:
        # the client does not read its answers: stop reading its requests until it does
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        want_paused = self.write_paused or len(self.queue) > MAX_QUEUED
        if want_paused != self.paused and self.transport is not None:
            self.paused = want_paused
            if want_paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.dead:
            return
        self.last_active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fatal(400, b"protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self.dead:  # a callback's own refusal (oversize headers) already answered
                self._fatal(400, b"malformed HTTP request: " + str(exc).encode(errors="replace")[:200])

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._reset()
        self.in_message = True

    def on_url(self, url: bytes) -> None:
        self.target += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        if len(self.headers) >= MAX_HEADERS:
            self._fatal(431, b"too many headers")
            raise httptools.HttpParserError("too many headers")
        self.headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))

    def _count_header_bytes(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_HEADER_BYTES:
            self._fatal(431, b"request headers too large")
            raise httptools.HttpParserError("headers too large")

    def on_headers_complete(self) -> None:
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.server.max_body_bytes:
            self._oversize()
            raise httptools.HttpParserError("body too large")  # stop parsing: nothing more is read
        if self.headers.get("expect", "").lower() == "100-continue" and self.current is None and not self.queue:
            self.transport.write(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        self.body_size += len(chunk)
        if self.body_size > self.server.max_body_bytes:
            self._oversize()
            raise httptools.HttpParserError("body too large")
        self.body_parts.append(chunk)

    def on_message_complete(self) -> None:
        body = b"".join(self.body_parts) if len(self.body_parts) != 1 else self.body_parts[0]
        parser = self.parser
        request = HttpRequest(
            parser.get_method().decode("latin-1"),
            self.target,
            self.headers,
            body,
            parser.should_keep_alive(),
            parser.get_http_version() == "1.0",
        )
        self.in_message = False
        self._enqueue(request)

    # -- serving
    def _oversize(self) -> None:
        """Answer the request in progress as too large (its route says how) and read nothing more."""
        request = HttpRequest(self.parser.get_method().decode("latin-1"), self.target, self.headers, b"", False)
        request.oversize = True
        self.dead = True
        self.in_message = False
        self._enqueue(request)

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
            if route is not None:
                route(request, self.reply)
            elif request.oversize:
                self.reply(413, [(b"content-type", b"text/plain")], b"request body too large")
            else:
                self.server.fallback(request, self.reply)
        except Exception:  # a route's bug: the client gets a 500, the connection and the server live on
            log.exception("unhandled error serving %s %s", request.method, request.path)
            if self.current is request:
                self.reply(500, [(b"content-type", b"text/plain")], b"internal server error")

    def reply(self, status: int, headers: Headers, body: bytes) -> None:
        """Write the answer to the current request, then serve the next one queued."""
        request = self.current
        if request is None or self.transport is None:
            return
        self.current = None
        # closing (a fatal input error, or the server stopping) waits until the queued answers are written
        keep_alive = request.keep_alive and not request.oversize and not (self.close_after and not self.queue)
        connection = (b"keep-alive" if request.http10 else b"") if keep_alive else b"close"
        response = encode_response(status, headers, body, connection, request.method == "HEAD", self.server.date)
        self.transport.write(response)
        self.last_active = time.monotonic()
        if not keep_alive:
            self.transport.close()
            return
        if self.queue:
            self._serve_next()

    def _fatal(self, status: int, message: bytes) -> None:
        """The input cannot be read on: answer (in turn) and close."""
        self.dead = True
        if self.transport is None:
            return
        if self.current is None and not self.queue:
            plain = [(b"content-type", b"text/plain")]
            self.transport.write(encode_response(status, plain, message, b"close", date=self.server.date))
            self.transport.close()
        else:  # answers still owed: they go first, then the connection closes without one for the bad input
            self.close_after = True

    @property
    def idle(self) -> bool:
        return self.current is None and not self.queue and not self.in_message


class HttpServer:
    """The listening side: routes by exact path for POST, an ASGI ``fallback`` for everything else."""

    def __init__(self, routes: Mapping[str, Route], fallback: Route, max_body_bytes: int, keep_alive_s: float):
        self.routes = dict(routes)
        self.fallback = fallback
        self.max_body_bytes = max_body_bytes
        self.keep_alive_s = keep_alive_s
        self.connections: set[Connection] = set()
        self.date = b""
        self.tick()

    def tick(self) -> None:
        """Refresh the ``date:`` header line (called every second): formatting it per answer would cost more."""
        self.date = b"date: %s\r\n" % formatdate(usegmt=True).encode()

    def protocol(self) -> Connection:
        return Connection(self)

    def close_idle(self, now: float) -> None:
        """Close connections with nothing owed that have been quiet for ``keep_alive_s`` (or half a
        request for as long: a slow client cannot hold a connection forever)."""
        for connection in list(self.connections):
            if connection.current is None and not connection.queue and now - connection.last_active > self.keep_alive_s:
                if connection.transport is not None:
                    connection.transport.close()

    def begin_shutdown(self) -> None:
        """Close what is idle now; a connection owing an answer closes once it has written it."""
        for connection in list(self.connections):
            connection.close_after = True
            if connection.idle and connection.transport is not None:
                connection.transport.close()

    def abort_all(self) -> None:
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
