"""Assemble and run jboxmon's services in one process (``jboxmon run``) or one at a time.

Every component has the same lifecycle: built from config (no I/O), ``start()``, ``stop()``.
Stopping goes in reverse order and is safe after a failed start.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Protocol

from config import JboxmonConfig
from storage import InfluxClient, InfluxError, InfluxSettings

log = logging.getLogger(__name__)

ALL = ("collector", "rules", "retention")


class Component(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


class Services:
    def __init__(self, config: JboxmonConfig, *, listen: str | None = None, components: tuple[str, ...] = ALL) -> None:
        self.config = config
        self.listen = listen or config.collector.listen
        self.names = components
        self.influx = InfluxClient(InfluxSettings.from_config(config.influxdb))
        self.started: list[Component] = []
        self._stop = threading.Event()

    def build(self) -> list[Component]:
        built: list[Component] = []
        if "collector" in self.names:
            built += self._collector()
        if "rules" in self.names:
            built.append(self._rules())
        if "retention" in self.names and self.config.retention.enabled:
            from jboxmon.retention_component import RetentionComponent

            built.append(RetentionComponent(self.config, self.influx))
        return built

    def _rules(self) -> Component:
        from jboxmon.rules_component import RulesComponent

        return RulesComponent(self.config, self.influx)

    def _collector(self) -> list[Component]:
        from collector.scraper import Scraper
        from collector.service import IngestService
        from inventory import Registry
        from jboxmon.collector_component import CollectorServer

        cfg = self.config.collector
        registry = Registry(self.config.inventory.path)
        r = self.config.influxdb.retention  # policy names as storage.client.retention_policies creates them
        policies = {"raw": r.raw, "logs": r.logs, "ds_1m": r.downsampled_1m, "ds_1h": r.downsampled_1h}
        service = IngestService(cfg, self.influx, registry=registry, retention_s=policies)
        host, port = self.listen.rsplit(":", 1)
        server = CollectorServer(
            service,
            host=host.strip("[]"),
            port=int(port),
            ssl_certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
            ssl_keyfile=str(cfg.tls_key) if cfg.tls_key else None,
        )
        components: list[Component] = [server]
        if cfg.pull.enabled:
            components.append(Scraper(cfg.pull, service))
        return components

    def start(self) -> Services:
        try:
            self.influx.create_database()
        except InfluxError as exc:
            # the collector spools while InfluxDB is away, so an outage at start is not fatal
            log.warning("could not prepare the InfluxDB database yet: %s", exc)
        try:
            for component in self.build():
                component.start()
                self.started.append(component)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self.started:
            component = self.started.pop()
            try:
                component.stop()
            except Exception:  # keep stopping the others
                log.exception("error while stopping %s", type(component).__name__)
        self.influx.close()

    def reload(self) -> None:
        """SIGHUP: components that read files (rule files) reload them."""
        for component in self.started:
            reload = getattr(component, "reload", None)
            if reload is not None:
                reload()

    def run_until_signal(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())
        self.start()
        log.info("jboxmon running (%s); Ctrl-C to stop", ", ".join(self.names))
        self._stop.wait()
        self.stop()
        return 0
