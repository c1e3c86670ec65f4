"""Run the collector: the ingest service, its HTTP server and the periodic chores."""

from __future__ import annotations

import logging
import threading

from collector.app import create_app
from collector.groupcommit import GroupCommitter
from collector.service import IngestService
from collector.serving import BackgroundHttp
from storage.supervision import Loop

log = logging.getLogger(__name__)
CHORES_EVERY_S = 5.0  # last-contact times are written to the registry this often
CHORES_STALL_S = 120.0


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
        self.committer = GroupCommitter(service.spool, service.config.commit_delay, loops=service.loops)
        scheme = "https" if ssl_certfile else "http"
        app = create_app(service, self.committer, scheme=scheme)
        self.http = BackgroundHttp(app, host, port, ssl_certfile, ssl_keyfile, sock)
        self._chores = None
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
        self._chores = self.service.loops.spawn("collector-chores", self._run_chores, stall_after_s=CHORES_STALL_S)
        log.info("collector listening on %s", self.url)
        return self

    def _run_chores(self, loop: Loop) -> None:
        # a failing chore (the registry locked) is counted and retried by the supervisor
        while not self._stop.wait(CHORES_EVERY_S):
            self.service.flush_seen()
            loop.ok()

    def stop(self) -> None:
        if self._chores is None:
            return
        self._stop.set()
        self.http.stop()
        self._chores.stop(timeout_s=10)
        self._chores = None
        self.committer.stop()
        self.service.stop()

    def __enter__(self) -> CollectorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
