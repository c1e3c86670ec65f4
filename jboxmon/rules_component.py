"""The rules service wired to this installation: InfluxDB queries, the registry's inventory, the
alert history in InfluxDB, the alerting service, and its HTTP API."""

from __future__ import annotations

import logging

from config import JboxmonConfig
from inventory import Box, Registry
from jboxmon.httpserver import BackgroundServer
from rules.api import create_app
from rules.service import RulesService
from rules.sinks import HttpAlertSink, InfluxHistory
from storage import InfluxClient

log = logging.getLogger(__name__)


class RulesComponent:
    def __init__(self, config: JboxmonConfig, influx: InfluxClient) -> None:
        rules = config.rules
        self.registry = Registry(config.inventory.path)
        sinks = [HttpAlertSink(rules.alerting_url)] if rules.alerting_url else []
        self.service = RulesService(
            rules,
            influx.query,
            self.inventory,
            history=InfluxHistory(influx) if rules.write_alerts_to_influxdb else None,
            sinks=sinks,
            box_energy_kwh=config.fleet.box_energy_kwh,
        )
        host, port = rules.listen.rsplit(":", 1)
        self.http = BackgroundServer(create_app(self.service), host.strip("[]"), int(port))

    def inventory(self) -> list[Box]:
        return self.registry.boxes()

    def start(self) -> RulesComponent:
        if not self.registry.path.exists():  # said once: absence rules then know only the boxes that report
            log.warning(
                "no fleet inventory at %s (inventory.path): absence rules cannot see boxes that never "
                "reported until they are registered (jboxmon tokens issue)",
                self.registry.path,
            )
        self.registry.open()
        self.service.start()
        self.http.start()
        return self

    def reload(self) -> None:
        self.service.reload()

    def stop(self) -> None:
        self.http.stop()
        self.service.stop()
        self.registry.close()
