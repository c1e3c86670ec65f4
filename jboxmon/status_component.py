"""The status page wired to this installation: the status service and its HTTP server on ``status.listen``."""

from __future__ import annotations

import logging

from config import JboxmonConfig
from inventory.controlplane import ControlPlane
from jboxmon.httpserver import BackgroundServer
from status import StatusService, create_app

log = logging.getLogger(__name__)


class StatusComponent:
    def __init__(self, config: JboxmonConfig, port: int | None = None) -> None:
        cfg = config.status
        self.config = config
        self.service = StatusService(config)
        self.control = ControlPlane(config)
        tls = cfg.tls_cert is not None
        app = create_app(self.service, access=self.control.policy, session_ttl_s=config.auth.session_ttl, tls=tls)
        self.http = BackgroundServer(app, cfg.host, cfg.port if port is None else port,
                                     ssl_certfile=str(cfg.tls_cert) if tls else None,
                                     ssl_keyfile=str(cfg.tls_key) if tls else None)  # fmt: skip

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> StatusComponent:
        self.control.start()
        token = self._viewer_token()
        if token:
            self.service.upstream_headers["Authorization"] = f"Bearer {token}"
        self.service.start()
        self.http.start()
        log.info("status page on %s", self.url)
        return self

    def _viewer_token(self) -> str | None:
        if self.config.status.alerting_token is not None:
            return self.config.status.alerting_token.resolve()
        return self.control.service_token("jboxmon-status", "viewer")  # the page's own, in memory only

    def stop(self) -> None:
        self.http.stop()
        self.service.stop()
        self.control.stop()
