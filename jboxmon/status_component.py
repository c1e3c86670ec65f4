"""The status page wired to this installation: the status service and its HTTP server on ``status.listen``."""

from __future__ import annotations

import logging

from config import JboxmonConfig
from jboxmon.httpserver import BackgroundServer
from status import StatusService, create_app

log = logging.getLogger(__name__)


class StatusComponent:
    def __init__(self, config: JboxmonConfig, port: int | None = None) -> None:
        cfg = config.status
        self.service = StatusService(config)
        self.http = BackgroundServer(create_app(self.service), cfg.host, cfg.port if port is None else port)

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> StatusComponent:
        self.service.start()
        self.http.start()
        log.info("status page on %s", self.url)
        return self

    def stop(self) -> None:
        self.http.stop()
        self.service.stop()
