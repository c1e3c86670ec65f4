"""The alerting service wired to this installation: InfluxDB for email charts, its HTTP API, and
reload of the ``alerting:`` section from the config file (SIGHUP or ``POST /-/reload``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alerting.api import create_app
from alerting.series import InfluxSeries
from alerting.service import AlertingService
from config import ConfigError, JboxmonConfig, load_config
from inventory.controlplane import ControlPlane
from jboxmon.httpserver import BackgroundServer
from storage import InfluxClient

log = logging.getLogger(__name__)


class AlertingComponent:
    def __init__(self, config: JboxmonConfig, influx: InfluxClient | None, config_path: Path | str | None = None,
                 port: int | None = None) -> None:  # fmt: skip
        cfg = config.alerting
        self.config_path = config_path
        self.service = AlertingService(cfg, series=InfluxSeries(influx) if influx is not None else None)
        self.control = ControlPlane(config)
        app = create_app(self.service, self.reload_file, access=self.control.policy, audit=self.control.audit)
        self.http = BackgroundServer(app, cfg.host, cfg.port if port is None else port,
                                     ssl_certfile=_path(cfg.tls_cert), ssl_keyfile=_path(cfg.tls_key))  # fmt: skip

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> AlertingComponent:
        self.control.start()
        self.service.start()
        self.http.start()
        log.info("alerting listening on %s", self.url)
        return self

    def reload(self) -> None:
        error = self.reload_file()
        if error:
            log.error("alerting config reload failed, previous config kept:\n%s", error)

    def reload_file(self) -> str | None:
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            self.service.metrics.reloads.labels("failure").inc()
            return str(exc)
        self.service.reload(config.alerting)
        return None

    def stop(self) -> None:
        self.http.stop()
        self.service.stop()
        self.control.stop()


def _path(value) -> str | None:
    return str(value) if value else None
