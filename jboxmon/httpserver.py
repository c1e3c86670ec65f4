"""uvicorn in a background thread: how the rules, alerting and retention APIs are served.

The collector serves ingestion with its own HTTP/1.1 server (collector/serving.py).
"""

from __future__ import annotations

import socket
import threading

import uvicorn


class BackgroundServer:
    """Serve an ASGI app from a daemon thread. ``port`` 0 picks a free port (read it back after start)."""

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            timeout_keep_alive=30,
            # nothing here reads the client's address: skip rewriting it from X-Forwarded-* per request
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._sock = sock  # a listening socket shared with other workers: served instead of binding
        self._thread: threading.Thread | None = None
        self.scheme = "https" if ssl_certfile else "http"

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> BackgroundServer:
        sockets = [self._sock] if self._sock is not None else None
        self._thread = threading.Thread(target=self._server.run, args=(sockets,), name="http", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("HTTP server failed to start (port in use?)")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._thread = None
