"""HA through a Prometheus Alertmanager cluster: Debian's ``prometheus-alertmanager`` runs as two
gossiping nodes on loopback; two jboxmon rule evaluators hand the same alerts over, one to each node;
the receiver gets exactly one notification."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from alerting.model import Alert
from alerting.service import AlertingService
from rules.sinks import HttpAlertSink
from storage.server import free_port
from tests.alerting.conftest import WebhookReceiver, make_config

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="Debian's prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
)


def _node(tmp_path: Path, name: str, config: Path, web: int, cluster: int, peer: int) -> subprocess.Popen:
    data = tmp_path / name
    data.mkdir()
    command = [
        BINARY, f"--config.file={config}", f"--storage.path={data}", f"--web.listen-address=127.0.0.1:{web}",
        f"--cluster.listen-address=127.0.0.1:{cluster}", f"--cluster.advertise-address=127.0.0.1:{cluster}",
        f"--cluster.peer=127.0.0.1:{peer}", "--cluster.peer-timeout=15s", "--cluster.settle-timeout=5s",
        "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=2s", "--log.level=warn",
    ]  # fmt: skip
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _wait_cluster(urls: list[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            statuses = [requests.get(u + "/api/v2/status", timeout=2).json() for u in urls]
            if all(len(s["cluster"].get("peers") or []) == 2 and s["cluster"]["status"] == "ready" for s in statuses):
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("the Alertmanager cluster did not form")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """Two gossiping Alertmanager nodes notifying one webhook receiver; yields (node URLs, receiver)."""
    tmp_path = tmp_path_factory.mktemp("alertmanager")
    receiver = WebhookReceiver()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 5m\n"
        "  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: {receiver.url}\n        send_resolved: true\n"
    )
    web, ports = [free_port(), free_port()], [free_port(), free_port()]
    nodes = [_node(tmp_path, f"am{i}", config, web[i], ports[i], ports[1 - i]) for i in range(2)]
    urls = [f"http://127.0.0.1:{port}" for port in web]
    try:
        _wait_cluster(urls)
        yield urls, receiver
    finally:
        for node in nodes:
            node.terminate()
            node.wait(10)
        receiver.close()


def _alerts(name: str) -> list[Alert]:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    return [Alert(name, {"jbox_id": f"jbox-{i:04d}", "severity": "critical"}, {"summary": "setpoint not followed"},
                  "firing", started) for i in range(3)]  # fmt: skip


def _notified(receiver: WebhookReceiver, name: str) -> list[dict]:
    receiver.wait_for(1, timeout_s=20)
    time.sleep(20)  # past the second node's peer timeout (15 s): it must have stayed quiet
    return [p for p in receiver.payloads if p["groupLabels"].get("alertname") == name]


def test_two_evaluators_two_alertmanagers_one_notification(cluster) -> None:
    urls, receiver = cluster
    receiver.requests.clear()
    sinks = [HttpAlertSink(url + "/api/v2/alerts").start() for url in urls]
    try:
        for _ in range(3):  # three evaluation rounds of both evaluators, each handing over to its own node
            for sink in sinks:
                sink.send(_alerts("SetpointNotFollowed"))
            for sink in sinks:
                assert sink.flush()
            time.sleep(1)
        payloads = _notified(receiver, "SetpointNotFollowed")
    finally:
        for sink in sinks:
            sink.stop()
    assert len(payloads) == 1, [p["alerts"] for p in payloads]
    assert payloads[0]["version"] == "4"
    assert sorted(a["labels"]["jbox_id"] for a in payloads[0]["alerts"]) == ["jbox-0000", "jbox-0001", "jbox-0002"]


def test_two_jboxmon_alerting_services_forwarding_to_the_cluster(cluster, tmp_path: Path) -> None:
    """The ``alertmanager`` receiver: two jboxmon alerting services get the same alerts and forward
    them to both nodes; people get one notification."""
    urls, receiver = cluster
    receiver.requests.clear()
    services = []
    try:
        for i in range(2):
            section = {
                "route": {"receiver": "am", "group_by": ["alertname"], "group_wait": "200ms", "group_interval": "1s"},
                "receivers": [{"name": "am", "alertmanager_configs": [{"urls": urls}]}],
            }
            services.append(AlertingService(make_config(tmp_path / f"j{i}", **section)).start())
        items = [alert.to_alertmanager() for alert in _alerts("OverheatCritical")]
        for service in services:
            service.receive(items)
        payloads = _notified(receiver, "OverheatCritical")
        forwarded = [e.state for s in services for e in s.history.query(kind="notification")]
    finally:
        for service in services:
            service.stop()
    assert len(payloads) == 1, [p["alerts"] for p in payloads]
    assert len(payloads[0]["alerts"]) == 3
    assert forwarded.count("sent") >= 2  # both services forwarded (and keep forwarding every group_interval)
