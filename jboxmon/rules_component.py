"""The rules service wired to this installation: InfluxDB queries and the writes InfluxDB forwards
(the stream, with its listener, subscription and watch), the registry's inventory, the alert
history in InfluxDB, the hand-over to alerting (in process under ``jboxmon run``, else over
HTTP to ``rules.alerting_url``), and its HTTP API."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from alerting.links import box_url
from config import JboxmonConfig
from inventory import Box, Registry
from inventory.controlplane import ControlPlane
from jboxmon.httpserver import BackgroundServer
from rules.api import create_app
from rules.metrics import RulesMetrics
from rules.service import RulesService
from rules.sinks import AlertHandover, InfluxHistory, http_deliver
from rules.stream import SampleStream
from rules.streamreceiver import create_receiver
from rules.subscription import StreamSubscription
from storage import InfluxClient
from storage.supervision import Supervisor

log = logging.getLogger(__name__)
WATCH_EVERY_S = 10.0  # how often the subscription's statistics are read (a lost post: a gap)


def with_links(deliver: Callable[[list[dict]], None], status_url: str) -> Callable[[list[dict]], None]:
    """Box alerts leave with ``generatorURL`` = the box view of the status page (the rules service is
    their generator; Prometheus links its graph the same way), so webhooks link somewhere useful."""
    if not status_url:
        return deliver

    def send(items: list[dict]) -> None:
        for item in items:
            box = item.get("labels", {}).get("jbox_id")
            if box and not item.get("generatorURL"):
                item["generatorURL"] = box_url(status_url, box)
        deliver(items)

    return send


class RulesComponent:
    def __init__(
        self, config: JboxmonConfig, influx: InfluxClient, deliver: Callable[[list[dict]], None] | None = None
    ) -> None:
        """``deliver`` hands alerts to an alerting service in this process; without it alerts go to
        ``rules.alerting_url`` when set."""
        rules = config.rules
        self.config = config
        self.registry = Registry.from_config(config.inventory)
        self._inventory: tuple[int, list[Box]] | None = None  # (the registry's change counter, its boxes)
        self._inventory_lock = threading.Lock()
        metrics = RulesMetrics()
        loops = Supervisor("rules", metrics.registry)  # scheduled jobs and the hand-over worker
        self.handover: AlertHandover | None = None
        self.control = ControlPlane(config)
        self.stream, self.subscription, self.stream_http = None, None, None
        self._watch_stop = threading.Event()
        self._watch_loop = None
        self._filled = False  # the stream extended back over what InfluxDB held, once per start
        if rules.stream.enabled:
            self.stream = SampleStream(hold_s=rules.stream.hold)
            self._stream_token = secrets.token_urlsafe(24)
            receiver = create_receiver(self.stream, self._stream_token)
            self.stream_http = BackgroundServer(receiver, rules.stream.host, rules.stream.port)
        self.influx = influx
        if deliver is None and rules.alerting_url:
            # its producer credential: issued at start (below), read by the delivery on each post
            deliver = http_deliver(rules.alerting_url, headers=self._credential_headers)
        self._credential: str | None = None
        if deliver is not None:
            deliver = with_links(deliver, config.alerting.external_url or "")
            name = "alerting (in process)" if rules.alerting_url is None else rules.alerting_url
            self.handover = AlertHandover(deliver, name=name, registry=metrics.registry, loops=loops)
        self.service = RulesService(
            rules,
            influx.query,
            self.inventory,
            history=InfluxHistory(influx) if rules.write_alerts_to_influxdb else None,
            sinks=[self.handover] if self.handover else [],
            metrics=metrics,
            box_energy_kwh=config.fleet.box_energy_kwh,
            loops=loops,
            payload_versions=config.collector.payload_versions,  # deprecated_payload: one source of dates
            samples=influx.query_samples,
            stream=self.stream,
        )
        app = create_app(self.service, access=self.control.policy, audit=self.control.audit)
        self.http = BackgroundServer(app, rules.host, rules.port, ssl_certfile=_path(rules.tls_cert),
                                     ssl_keyfile=_path(rules.tls_key))  # fmt: skip
        self._remote = deliver is not None and rules.alerting_url is not None

    def _credential_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._credential}"} if self._credential else {}

    def inventory(self) -> list[Box]:
        """The fleet, listed again only when an operator verb changed the registry (its change
        counter, one cheap read): every group evaluation asks for it, and listing 10,000 boxes costs
        ~0.1 s of the registry's time (more under load), 13 times a minute. What the rules read of a
        box (its tags, its registration time) changes only by such verbs; last contact times, which
        change without them, are not read here."""
        with self._inventory_lock:
            changes = self.registry.changes()
            if self._inventory is None or self._inventory[0] != changes:
                self._inventory = (changes, self.registry.boxes())
            return self._inventory[1]

    def start(self) -> RulesComponent:
        if not self.registry.exists():  # said once: absence rules then know only the boxes that report
            log.warning(
                "no fleet inventory at %s (inventory.path): absence rules cannot see boxes that never "
                "reported until they are registered (jboxmon tokens issue)",
                self.registry.path,
            )
        self.registry.open()
        self.control.start()
        if self._remote and self.config.rules.alerting_token is not None:
            self._credential = self.config.rules.alerting_token.resolve()
        elif self._remote:  # the rules engine's producer credential, issued by itself (see ControlPlane)
            self._credential = self.control.service_token("jboxmon-rules", "producer")
        if self.handover is not None:
            self.handover.start()
        self.service.start()
        self.http.start()
        if self.stream_http is not None:
            self._start_stream()
        return self

    def _start_stream(self) -> None:
        """Listen for InfluxDB's forwarded writes and subscribe to them; said once if it cannot be."""
        settings = self.config.rules.stream
        influx_host = urlsplit(self.config.influxdb.url).hostname or ""
        if settings.advertise is None and _loopback(settings.host) and not _loopback(influx_host):
            log.warning(
                "rules stream off, every read queries InfluxDB: InfluxDB at %s cannot post to %s; "
                "set rules.stream.listen and rules.stream.advertise to an address it reaches",
                influx_host,
                settings.host,
            )
            self.stream_http = None
            return
        self.stream_http.start()
        base = urlsplit(settings.advertise or f"http://{settings.listen}")
        port = base.port if settings.advertise else self.stream_http.port
        host = base.hostname if ":" not in (base.hostname or "") else f"[{base.hostname}]"
        destination = f"http://jboxmon:{self._stream_token}@{host}:{port}"
        owner = f"{socket.gethostname()}:{self.config.rules.state_db.resolve()}"
        self.subscription = StreamSubscription(self.influx, self.stream, destination, owner)
        if self.subscription.open():
            self._watch_loop = self.service.loops.spawn("stream-watch", self._watch, stall_after_s=120)

    def _watch(self, loop) -> None:
        if not self._filled:
            self._filled = True
            self.subscription.fill()  # the rows InfluxDB held before, when few: first reads from memory
        while not self._watch_stop.is_set():
            self.subscription.check()
            loop.ok()
            self._watch_stop.wait(WATCH_EVERY_S)

    def reload(self) -> None:
        self.service.reload()

    def stop(self) -> None:
        self._watch_stop.set()
        if self._watch_loop is not None:
            self._watch_loop.stop()
        if self.subscription is not None:
            self.subscription.close()
        if self.stream_http is not None:
            self.stream_http.stop()
        self.http.stop()
        self.service.stop()
        if self.handover is not None:
            self.handover.stop()
        self.registry.close()
        self.control.stop()


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _path(value) -> str | None:
    return str(value) if value else None
