"""JBOX HTTP status endpoints for pull mode: ``GET /boxes/<jbox_id>/status`` answers a payload-v2
document with the box's current sample, like the PLC web server of a real box.

Boxes listed in ``silent`` do not answer (the connection is held until the client times out),
boxes in ``broken`` answer 500: both what a scraper meets in the field.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SampleSource = Callable[[str, float], dict[str, float] | None]


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StatusServer:
    def __init__(self, sample_source: SampleSource, clock: Callable[[], float] = time.time) -> None:
        self.sample_source = sample_source
        self.clock = clock
        self.silent: set[str] = set()
        self.broken: set[str] = set()
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url_for(self, jbox_id: str) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/boxes/{jbox_id}/status"

    def start(self) -> StatusServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests += 1
                parts = self.path.strip("/").split("/")
                box = parts[1] if len(parts) == 3 and parts[0] == "boxes" and parts[2] == "status" else None
                if box in owner.silent:
                    time.sleep(30)
                    return
                now = owner.clock()
                sample = owner.sample_source(box, now) if box and box not in owner.broken else None
                if sample is None:
                    self.send_error(500 if box in owner.broken else 404)
                    return
                document = {
                    "header": {"jbox_id": box, "fw_version": "2.1.0", "sent_at": _rfc3339(now)},
                    "samples": [{"time": _rfc3339(now), **sample}],
                }
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
