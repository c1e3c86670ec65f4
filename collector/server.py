"""Run the collector: the ingest service, its HTTP server (uvicorn) and the periodic chores."""

from __future__ import annotations

import logging
import threading

import uvicorn

from collector.app import create_app
from collector.groupcommit import GroupCommitter
from collector.service import IngestService

log = logging.getLogger(__name__)


class CollectorServer:
    """uvicorn serving the collector app in a background thread (``start``/``stop``), or in the
    foreground (``serve_forever``). ``port`` 0 picks a free port, read back from ``port``."""

    def __init__(
        self,
        service: IngestService,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        self.service = service
        self.committer = GroupCommitter(service.spool)
        config = uvicorn.Config(
            create_app(service, self.committer),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            timeout_keep_alive=30,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._chores: threading.Thread | None = None
        self._stop = threading.Event()
        self.scheme = "https" if ssl_certfile else "http"

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> CollectorServer:
        self.service.start()
        self.committer.start()
        self._thread = threading.Thread(target=self._server.run, name="collector-http", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("collector HTTP server failed to start (port in use?)")
            self._stop.wait(0.01)
        self._chores = threading.Thread(target=self._run_chores, name="collector-chores", daemon=True)
        self._chores.start()
        log.info("collector listening on %s", self.url)
        return self

    def _run_chores(self) -> None:
        while not self._stop.wait(5):
            try:
                self.service.flush_seen()
            except Exception:  # a chore failing must not kill ingestion; it is retried next round
                log.exception("collector chore failed")

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._thread = None
        self.committer.stop()
        self.service.stop()

    def wait(self) -> None:
        """Block until ``stop()`` is called (from a signal handler, for instance)."""
        self._stop.wait()

    def __enter__(self) -> CollectorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
