"""Serve the rare requests, the ones that are not an ingestion POST, with an ASGI application.

Health, metrics, the OpenAPI document, /ping and every wrong method or path keep Starlette's
behaviour (its routing, 404/405 answers, HEAD handling) while ingestion runs on the protocol
directly (collector/http11.py). The request arrives whole, so the app receives its body in one
message and its answer is collected and written as one response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from collector.http11 import HttpRequest, Reply

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class AsgiFallback:
    """A ``fallback`` for collector/http11.py's server that runs ``app`` for each request, as a task."""

    def __init__(self, app: ASGIApp, scheme: str = "http") -> None:
        self.app = app
        self.scheme = scheme
        self._tasks: set[asyncio.Task] = set()  # held until done: the loop keeps only weak references

    def __call__(self, request: HttpRequest, reply: Reply) -> None:
        task = asyncio.get_running_loop().create_task(self._run(request, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request: HttpRequest, reply: Reply) -> None:
        answered = asyncio.Event()
        body_given = False
        status, headers, chunks = 500, [], []

        async def receive() -> dict:
            nonlocal body_given
            if not body_given:
                body_given = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await answered.wait()  # asked again (streaming responses listen for a disconnect)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not answered.is_set():
                    answered.set()
                    reply(status, headers, b"".join(chunks))

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": self.scheme,
            "path": request.path,
            "raw_path": request.path.encode(),
            "query_string": request.query_string,
            "root_path": "",
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers.items()],
            "server": None,
            "client": None,
        }
        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
        if not answered.is_set():  # the app failed or never answered: the client still gets one
            answered.set()
            reply(500, [(b"content-type", b"text/plain")], b"internal server error")
