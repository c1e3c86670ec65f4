"""The status service: which upstreams to watch (from the config), the inventory reader, the refresher.

It reaches the other services only over HTTP (their ``listen`` addresses, or ``status.urls``), as an
operator's browser would, so it reports what is reachable rather than what one process believes;
under ``jboxmon run`` it checks its neighbours the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import quote

from config import JboxmonConfig
from config.fields import Listens
from inventory import Box, Registry
from status import alerts, components, fleet
from status.chart import ChartProxy
from status.components import Target
from status.metrics import StatusMetrics
from status.model import FleetView, Snapshot
from status.refresher import Refresher
from storage.supervision import Supervisor

log = logging.getLogger(__name__)
COMPONENTS = ("collector", "rules", "alerting", "retention")
_ANY_ADDRESS = {"", "0.0.0.0", "::"}  # a wildcard listen address is reached on loopback


def targets(config: JboxmonConfig) -> list[Target]:
    """Each watched service: ``status.urls.<name>``, else ``http(s)://`` its ``listen`` address."""
    urls = config.status.urls
    sections: dict[str, tuple[Listens, bool]] = {
        "collector": (config.collector, config.collector.tls_cert is not None),
        "rules": (config.rules, config.rules.tls_cert is not None),
        "alerting": (config.alerting, config.alerting.tls_cert is not None),
        "retention": (config.retention, config.retention.tls_cert is not None),
    }
    given = {"collector": urls.collector, "rules": urls.rules, "alerting": urls.alerting, "retention": urls.retention}
    out = []
    for name in COMPONENTS:
        section, tls = sections[name]
        enabled = name != "retention" or config.retention.enabled
        out.append(Target(name, given[name] or _url(section, tls), enabled=enabled))
    return out


def _url(section: Listens, tls: bool) -> str:
    host = section.host
    host = "127.0.0.1" if host in _ANY_ADDRESS else (f"[{host}]" if ":" in host else host)
    return f"{'https' if tls else 'http'}://{host}:{section.port}"


class InventoryReader:
    """Reads the registry (a file path or a postgresql:// URL) each round; a missing file is
    reported, never created here."""

    def __init__(
        self, path: Path | str | Registry, reporting_window: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.source = path if isinstance(path, Registry) else Registry(path, clock=clock)
        self.reporting_window = reporting_window
        self.clock = clock
        self._registry: Registry | None = None

    def __call__(self) -> tuple[FleetView, dict[str, Box]]:
        if self._registry is None:
            if not self.source.exists():
                error = (
                    f"no fleet inventory at {self.source.path} (inventory.path): register boxes (jboxmon tokens issue)"
                )
                return FleetView(error=error, checked_at=self.clock()), {}
            self._registry = self.source.open()
        boxes = self._registry.boxes()
        now = self.clock()
        return fleet.summarize(boxes, now, self.reporting_window), {box.jbox_id: box for box in boxes}

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None


class StatusService:
    """Everything the page needs; ``snapshot`` is the last refresh round (None before the first)."""

    def __init__(self, config: JboxmonConfig, clock: Callable[[], float] = time.time) -> None:
        cfg = config.status
        self.config = cfg
        self.clock = clock
        self.metrics = StatusMetrics()
        self.targets = targets(config)
        self.inventory = InventoryReader(
            Registry.from_config(config.inventory, clock, role="status"), cfg.reporting_window, clock
        )
        self.tls_verify = str(cfg.tls_verify) if isinstance(cfg.tls_verify, Path) else cfg.tls_verify
        self._health_http = components.health_client(cfg.timeout, self.tls_verify)
        # the page's own viewer credential for the alerting API, set before start (jboxmon.status_component)
        self.upstream_headers: dict[str, str] = {}
        self._alerts_http = alerts.alerts_client(cfg.timeout, self.upstream_headers, self.tls_verify)
        self.alerting_url = alerting_url = next(t.url for t in self.targets if t.name == "alerting")
        self.charts = ChartProxy(alerting_url, cfg.timeout, cfg.refresh)
        self.refresher = Refresher(
            {t.name: partial(components.check, t, self._health_http, clock) for t in self.targets},
            partial(alerts.fetch, alerting_url, self._alerts_http, clock),
            self.inventory,
            interval_s=cfg.refresh,
            timeout_s=cfg.timeout,
            clock=clock,
            on_snapshot=self.metrics.record,
            urls={t.name: t.url for t in self.targets},
            loops=Supervisor("status", self.metrics.registry),
        )

    @property
    def snapshot(self) -> Snapshot | None:
        return self.refresher.snapshot

    def box_link(self, jbox_id: str) -> str:
        """The link target of a box (``status.box_url``), its id quoted so it stays one path segment."""
        return self.config.box_url.replace("{jbox_id}", quote(jbox_id, safe=""))

    def stale(self, snapshot: Snapshot | None) -> bool:
        """True before the first round ended, or when the last one is older than ``stale_after``."""
        return snapshot is None or self.clock() - snapshot.taken_at > self.config.stale_after

    def start(self) -> StatusService:
        self.refresher.start()
        return self

    def stop(self) -> None:
        self.refresher.stop()
        self.inventory.close()
        self._health_http.close()
        self._alerts_http.close()
        self.charts.close()
