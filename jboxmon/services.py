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

ALL = ("collector", "rules", "alerting", "retention", "status")


class Component(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


class Services:
    def __init__(
        self,
        config: JboxmonConfig,
        *,
        listen: str | None = None,
        components: tuple[str, ...] = ALL,
        config_path: str | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.listen = listen or config.collector.listen
        self.names = components
        self.influx = InfluxClient(InfluxSettings.from_config(config.influxdb))
        self.started: list[Component] = []
        self._stop = threading.Event()
        # a SIGHUP while components start (a client may reach one before the next is up) waits
        # for the start, so that every component reloads, not only those listed so far
        self._starting = threading.Lock()

    def build(self) -> list[Component]:
        built: list[Component] = []
        if "collector" in self.names:
            built += self._collector()
        alerting = self._alerting() if "alerting" in self.names else None
        if alerting is not None:
            built.append(alerting)  # before rules: the rules hand their first alerts straight to it
        if "rules" in self.names:
            built.append(self._rules(alerting))
        if "retention" in self.names and self.config.retention.enabled:
            from jboxmon.retention_component import RetentionComponent

            built.append(RetentionComponent(self.config, self.influx))
        if "status" in self.names and (self.config.status.enabled or self.names == ("status",)):
            built.append(self._status())  # last: its first round finds the others listening
        return built

    def _status(self) -> Component:
        from jboxmon.status_component import StatusComponent

        config = self.config
        if self.listen != config.collector.listen:  # `jboxmon run --listen`: watch the collector where it is
            collector = config.collector.model_copy(update={"listen": self.listen})
            config = config.model_copy(update={"collector": collector})
        return StatusComponent(config)

    def _alerting(self):
        from jboxmon.alerting_component import AlertingComponent

        return AlertingComponent(self.config, self.influx, self.config_path)

    def _rules(self, alerting=None) -> Component:
        from jboxmon.rules_component import RulesComponent

        # in one process the rules hand alerts over in memory, through the same path as POST /api/v2/alerts
        deliver = alerting.service.receive if alerting is not None else None
        return RulesComponent(self.config, self.influx, deliver=deliver)

    def _collector(self) -> list[Component]:
        host, port = self.listen.rsplit(":", 1)
        if self.config.collector.workers > 1:
            from jboxmon.collector_workers import CollectorWorkers

            return [CollectorWorkers(self.config, host.strip("[]"), int(port))]
        return collector_components(self.config, self.influx, host=host.strip("[]"), port=int(port))

    def start(self) -> Services:
        try:
            self.influx.create_database()
        except InfluxError as exc:
            # the collector spools while InfluxDB is away, so an outage at start is not fatal
            log.warning("could not prepare the InfluxDB database yet: %s", exc)
        try:
            with self._starting:
                for component in self.build():
                    component.start()
                    self.started.append(component)
        except Exception:
            self.stop()
            raise
        self._hint_operators()
        return self

    def _hint_operators(self) -> None:
        """Say once how to get in when credentials are required and no person has one yet."""
        if self.config.auth.mode != "credentials" or self.names == ("collector",):
            return
        from inventory.operators import OperatorStore

        try:
            with OperatorStore.from_config(self.config.inventory) as store:
                people = [op for op in store.list() if not op.name.startswith("jboxmon-") and op.active_tokens]
        except Exception:  # a hint only: never a reason not to run
            return
        if not people:
            log.warning(
                "the control plane needs operator credentials (auth.mode: credentials) and none is issued yet: "
                "jboxmon users add NAME --role admin (or auth: {mode: none} when every service is on loopback)"
            )

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
        with self._starting:
            started = list(self.started)
        for component in started:
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


def collector_components(
    config: JboxmonConfig,
    influx: InfluxClient,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock=None,
    index: int = 0,
    workers: int = 1,
) -> list[Component]:
    """One collector (the whole of it, or worker ``index`` of ``workers`` serving ``sock``): its
    ingest service on its own spool plus any orphaned spools it adopts, and the scraper (worker 0)."""
    from collector.scraper import Scraper
    from collector.service import IngestService
    from inventory import Registry
    from jboxmon.collector_component import CollectorServer
    from jboxmon.collector_workers import spool_layout

    cfg = config.collector
    own, adopted = spool_layout(cfg.spool_dir, workers, index)
    if own != cfg.spool_dir:
        cfg = cfg.model_copy(update={"spool_dir": own})
    registry = Registry.from_config(config.inventory)
    r = config.influxdb.retention  # policy names as storage.client.retention_policies creates them
    policies = {"raw": r.raw, "logs": r.logs, "ds_1m": r.downsampled_1m, "ds_1h": r.downsampled_1h}
    service = IngestService(cfg, influx, registry=registry, retention_s=policies, adopted_spools=adopted)
    server = CollectorServer(
        service,
        host=host,
        port=port,
        ssl_certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
        ssl_keyfile=str(cfg.tls_key) if cfg.tls_key else None,
        sock=sock,
    )
    components: list[Component] = [server]
    if cfg.pull.enabled and index == 0:  # one scraper per node, not one per worker
        components.append(Scraper(cfg.pull, service))
    return components
