"""Run the collector: the ingest service, its HTTP server and the periodic chores."""

from __future__ import annotations

import logging
import threading

from collector.app import create_app
from collector.groupcommit import GroupCommitter
from collector.service import IngestService
from collector.serving import BackgroundHttp

log = logging.getLogger(__name__)


class CollectorServer:
    """The collector as one component: ``start()`` opens the service and serves HTTP, ``stop()``
    is idempotent. ``port`` 0 picks a free port, read back from ``port``/``url``."""

    def __init__(
        self,
        service: IngestService,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        sock=None,
    ) -> None:
        self.service = service
        self.committer = GroupCommitter(service.spool, service.config.commit_delay)
        scheme = "https" if ssl_certfile else "http"
        app = create_app(service, self.committer, scheme=scheme)
        self.http = BackgroundHttp(app, host, port, ssl_certfile, ssl_keyfile, sock)
        self._chores: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> CollectorServer:
        self.service.start()
        self.committer.start()
        self.http.start()
        self._stop.clear()
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
        if self._chores is None:
            return
        self._stop.set()
        self.http.stop()
        self._chores.join(timeout=10)
        self._chores = None
        self.committer.stop()
        self.service.stop()

    def __enter__(self) -> CollectorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
