"""Real upstreams for the status page: HTTP servers on port 0 answering ``/health`` as told, the real
alerting service (its HTTP API on port 0, alerts posted to it over HTTP), a real inventory SQLite."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config import JboxmonConfig
from config.auth import AuthConfig
from config.model import InventoryConfig
from config.status import ComponentUrls, StatusConfig
from inventory import Box, Registry
from jboxmon.alerting_component import AlertingComponent
from jboxmon.status_component import StatusComponent
from storage.http import HttpClient


class HealthServer:
    """Answers ``GET /health`` with ``status`` and ``body`` (bytes or JSON-able) after ``delay_s``;
    with ``drip_s`` it sends the body one byte every ``drip_s`` (a per-read timeout never fires)."""

    def __init__(self, status: int = 200, body: object = None, delay_s: float = 0.0, drip_s: float = 0.0) -> None:
        self.status, self.body, self.delay_s = status, {"status": "ok"} if body is None else body, delay_s
        self.drip_s = drip_s
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.hits += 1
                if server.delay_s:
                    time.sleep(server.delay_s)
                body = server.body if isinstance(server.body, bytes) else json.dumps(server.body).encode()
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for i in range(0, len(body), 1 if server.drip_s else len(body)):
                        self.wfile.write(body[i : i + (1 if server.drip_s else len(body))])
                        self.wfile.flush()
                        time.sleep(server.drip_s)
                except OSError:  # the status page gave up waiting: that is the point of the slow server
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def health_servers() -> Iterator[list[HealthServer]]:
    """Append servers to the list; all are closed at the end."""
    servers: list[HealthServer] = []
    yield servers
    for server in servers:
        server.close()


def closed_port_url() -> str:
    """An address where nothing listens (bound, then closed): connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_config(tmp_path: Path, urls: dict[str, str], **status) -> JboxmonConfig:
    base = JboxmonConfig()
    alerting = base.alerting.model_copy(
        update={
            "listen": "127.0.0.1:0",
            "outbox": tmp_path / "alerting" / "outbox.sqlite",
            "silences": tmp_path / "alerting" / "silences.sqlite",
            "history": tmp_path / "alerting" / "history.sqlite",
        }
    )
    settings = {"listen": "127.0.0.1:0", "refresh": 5, "timeout": 1, **status}
    return base.model_copy(
        update={
            "inventory": InventoryConfig(path=tmp_path / "registry.sqlite"),
            "alerting": alerting,
            "status": StatusConfig(urls=ComponentUrls(**urls), **settings),
            "auth": AuthConfig(mode="none"),  # loopback; sign-in has its own tests (tests/controlplane)
        }
    )


def register(path: Path, boxes: list[Box], seen: dict[str, float]) -> None:
    with Registry(path) as registry:
        registry.issue_many(boxes)
        registry.mark_seen(seen.items())


def post_alerts(alerting_url: str, alerts: list[dict]) -> None:
    with HttpClient() as http:
        http.request("POST", alerting_url + "/api/v2/alerts", json=alerts)


def silence(alerting_url: str, matchers: list[dict], minutes: float = 60) -> str:
    now = time.time()
    body = {
        "matchers": matchers,
        "startsAt": _iso(now - 60),
        "endsAt": _iso(now + minutes * 60),
        "createdBy": "test",
        "comment": "maintenance",
    }
    with HttpClient() as http:
        return http.request("POST", alerting_url + "/api/v2/silences", json=body).json()["silenceID"]


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


EVIL = '<script>alert("x")</script>'


@pytest.fixture
def fleet_page(tmp_path: Path, health_servers: list[HealthServer]):
    """collector up, rules degraded (200 saying so), retention down (nothing listens), alerting real."""
    collector = HealthServer(503, {"status": "degraded: InfluxDB unreachable, spooling", "spool_bytes": 10})
    rules = HealthServer(200, {"status": "degraded: last reload failed", "last_reload_error": "bad.yaml"})
    health_servers += [collector, rules]
    urls = {"collector": collector.url, "rules": rules.url, "retention": closed_port_url()}
    alerting = AlertingComponent(make_config(tmp_path, urls), None, port=0).start()
    config = make_config(tmp_path, {**urls, "alerting": alerting.url}, max_listed=3)
    now = time.time()
    boxes = [Box(f"jbox-{i:04d}", site=f"site-{i % 2}", region="IDF" if i < 4 else "PACA") for i in range(6)]
    # 0 and 1 report; 2 was lost 10 min ago, 3 an hour ago, 4 a day ago; 5 never reported
    register(config.inventory.path, boxes, {"jbox-0000": now - 5, "jbox-0001": now - 60, "jbox-0002": now - 600,
                                            "jbox-0003": now - 3600, "jbox-0004": now - 86400})  # fmt: skip
    post_alerts(alerting.url, [
        _alert("SetpointNotFollowed", "warning", "jbox-0001", now - 300),
        _alert("Overheating", "critical", "jbox-0002", now - 900),
        _alert("Overheating", "critical", "jbox-0000", now - 60),
        _alert("SocDrift", "warning", "jbox-0003", now - 30),
        _alert("LabelInjection", "critical", EVIL, now - 10, site=EVIL),
    ])  # fmt: skip
    silence(alerting.url, [{"name": "jbox_id", "value": "jbox-0003", "isRegex": False, "isEqual": True}])
    status = StatusComponent(config, port=0).start()
    try:
        _wait_for_snapshot(status)
        yield status
    finally:
        status.stop()
        alerting.stop()


def _alert(name: str, severity: str, box: str, since: float, site: str = "site-0") -> dict:
    return {
        "labels": {"alertname": name, "severity": severity, "jbox_id": box, "site": site, "region": "IDF"},
        "annotations": {"summary": f"{name} on {box}"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
    }


def _wait_for_snapshot(status: StatusComponent, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while status.service.snapshot is None:
        assert time.monotonic() < deadline, "no status snapshot in time"
        time.sleep(0.05)
