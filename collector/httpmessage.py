"""An HTTP/1.1 request as the collector's server (collector/http11.py) hands it to a route, and
the bytes of an answer."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

Headers = list[tuple[bytes, bytes]]
Reply = Callable[[int, Headers, bytes], None]

_STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()) for status in HTTPStatus}


class HttpRequest:
    """One request, whole: lower-case header names (the first of a repeated name wins, as Starlette's
    ``Headers.get``), the body read (or ``oversize`` when it passed the limit and was not kept).

    ``target`` is the request target as sent; ``path`` its path, percent-decoded (an absolute-form
    target, ``http://host/write``, is routed by its path). ``refusal`` is what the route's gate
    returned when it refused the request: the body was not read and the route answers it."""

    __slots__ = (
        "_query", "admitted", "answer", "body", "headers", "http10", "keep_alive", "method", "oversize", "path",
        "query_string", "refusal", "reply_headers", "reserved", "target",
    )  # fmt: skip

    def __init__(
        self, method: str, target: bytes, headers: dict[str, str], body: bytes, keep_alive: bool, http10: bool = False
    ) -> None:
        self.method = method
        self.http10 = http10
        self.target = target
        if target[:1] != b"/" and b"://" in target:  # absolute form (RFC 9112 3.2.2): route by the path
            target = b"/" + target.partition(b"://")[2].partition(b"/")[2]
        raw_path, _, query = target.partition(b"?")
        path = raw_path.decode("latin-1")
        self.path = unquote(path) if "%" in path else path
        self.query_string = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.oversize = False
        self.refusal: object = None
        self.admitted: object = None  # what the gate learnt (the token's principal), for the route
        self.reply_headers: dict[str, str] | None = None  # headers the gate found for the answer
        self.reserved = 0  # body bytes counted against the server's in-flight budget
        self.answer: tuple[int, Headers, bytes] | None = None  # the server's own answer (503: budget spent)
        self._query: dict[str, str] | None = None

    @property
    def query_params(self) -> dict[str, str]:
        """Query parameters; the last of a repeated name wins, as with Starlette's ``QueryParams``."""
        if self._query is None:
            text = self.query_string.decode("latin-1")
            self._query = dict(parse_qsl(text, keep_blank_values=True)) if text else {}
        return self._query


Route = Callable[[HttpRequest, Reply], None]  # calls ``reply`` once, now or later
# Sees a request whose headers are complete, before its body: None to read on, or the refusal
# (kept in ``request.refusal``; the body is not read, the route answers, the connection closes).
Gate = Callable[[HttpRequest], object]


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
