"""Local delivery sinks for ``make demo``: an SMTP server writing each email as an ``.eml`` file and
an HTTP server writing each webhook payload as a ``.json`` file, so the demo's notifications can be
opened without a mail server or a chat tool. Loopback only; files are created 0600."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller

from storage.server import free_port

_counter = itertools.count(1)


def _write(directory: Path, suffix: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{next(_counter):05d}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


class MailSink:
    """SMTP on 127.0.0.1 (plain, no auth: demo only) writing ``<dir>/<time>-<n>.eml``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        _write(self.directory, ".eml", envelope.content)
        return "250 OK"

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class WebhookSink:
    """HTTP on 127.0.0.1 writing each POSTed body (pretty JSON) to ``<dir>/<time>-<n>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 16 * 1024 * 1024))
                try:
                    body = json.dumps(json.loads(body), indent=2, sort_keys=True).encode()
                except ValueError:
                    pass
                _write(sink.directory, ".json", body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
