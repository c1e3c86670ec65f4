"""The lighter route: ingestion POSTs go straight from the server to their endpoint.

Starlette's router, its two exception middlewares and its ``Request`` object cost about as much CPU
per request as the payload-v2 fast path itself (bench/bench_decode.py, section c: a bare ASGI
callable under uvicorn takes half the CPU of a Starlette route). The ingestion routes are a fixed
table of exact paths that only need headers, two query parameters and the body, so this front
dispatches them by a dictionary lookup and hands the endpoint a minimal request; every other path
(GET routes, a trailing slash, a wrong method) goes through Starlette as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RawRequest:
    """What an ingestion endpoint reads of a request: ``headers``, ``query_params``, ``stream()``.

    Header names are lower-case (ASGI gives them so) and the first occurrence of a name wins, as
    with Starlette's ``Headers.get``; for query parameters the last one wins, as with ``QueryParams``.
    """

    __slots__ = ("_query", "headers", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}
        self._query: dict[str, str] | None = None

    @property
    def query_params(self) -> dict[str, str]:
        if self._query is None:
            text = self.scope.get("query_string", b"").decode("latin-1")
            self._query = dict(parse_qsl(text, keep_blank_values=True)) if text else {}
        return self._query

    async def stream(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return


class IngestFront:
    """ASGI app: POSTs to the ingestion paths go to their endpoint's ``handle``; the rest to ``fallback``."""

    def __init__(self, endpoints: Iterable, fallback: ASGIApp) -> None:
        self.routes = {endpoint.path: endpoint.handle for endpoint in endpoints}
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handle = self.routes.get(scope["path"])
            if handle is not None:
                response = await handle(RawRequest(scope, receive))
                await response(scope, receive, send)
                return
        await self.fallback(scope, receive, send)
