"""Run the collector's HTTP server (collector/http11.py) in a background thread with its own event loop.

uvloop when it is installed (it is with the collector's dependencies): its transports cost less CPU
per request than asyncio's. Stopping closes the listener, closes idle connections, lets those that
owe an answer write it (an fsync in flight) for up to ``drain_s``, then cuts what is left.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time

from collector.httpserver import HttpServer

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a declared dependency on Linux
    uvloop = None

SWEEP_S = 1.0


class BackgroundHttp:
    """``start()`` serves; ``port``/``url`` read back the bound address (port 0 picks a free one); ``stop()``."""

    def __init__(
        self,
        server: HttpServer,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        sock: socket.socket | None = None,
        drain_s: float = 10.0,
    ) -> None:
        self.server = server
        self.host, self._port = host, port
        self._ssl = None
        if ssl_certfile:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(ssl_certfile, ssl_keyfile)
        self._sock = sock  # a listening socket shared with other workers: served instead of binding
        self.drain_s = drain_s
        self.scheme = "https" if ssl_certfile else "http"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._listener.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> BackgroundHttp:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"HTTP server failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = self._loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
        try:
            self.server.start_serving()
            if self._sock is not None:
                listen = loop.create_server(self.server.protocol, sock=self._sock, ssl=self._ssl, backlog=4096)
            else:
                listen = loop.create_server(self.server.protocol, self.host, self._port, ssl=self._ssl, backlog=4096)
            self._listener = loop.run_until_complete(listen)
        except BaseException as exc:  # port in use, bad certificate: start() raises it
            self._error = exc
            self._ready.set()
            loop.close()
            return
        loop.call_later(SWEEP_S, self._sweep)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _sweep(self) -> None:
        self.server.tick()
        self.server.sweep(time.monotonic())
        self._loop.call_later(SWEEP_S, self._sweep)

    async def _shutdown(self) -> None:
        self._listener.close()
        self.server.begin_shutdown()
        deadline = time.monotonic() + self.drain_s
        while self.server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.server.abort_all()
        await asyncio.sleep(0)  # let the aborted transports report connection_lost
        self._loop.stop()

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        except RuntimeError:  # the loop already ended (its thread died): nothing left to drain
            pass
        self._thread.join(timeout=self.drain_s + 5)
        self._thread = None
