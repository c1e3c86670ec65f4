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
from rules.sinks import HttpAlertSink
from storage.server import free_port

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
        f"--cluster.peer=127.0.0.1:{peer}", "--cluster.peer-timeout=3s", "--cluster.settle-timeout=5s",
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


def test_two_evaluators_two_alertmanagers_one_notification(tmp_path: Path, webhook) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 5m\n"
        "  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: {webhook.url}\n        send_resolved: true\n"
    )
    web, cluster = [free_port(), free_port()], [free_port(), free_port()]
    nodes = [_node(tmp_path, f"am{i}", config, web[i], cluster[i], cluster[1 - i]) for i in range(2)]
    urls = [f"http://127.0.0.1:{port}" for port in web]
    sinks = [HttpAlertSink(url + "/api/v2/alerts").start() for url in urls]
    try:
        _wait_cluster(urls)
        started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
        alerts = [Alert("SetpointNotFollowed", {"jbox_id": f"jbox-{i:04d}", "severity": "critical"},
                        {"summary": "setpoint not followed"}, "firing", started) for i in range(3)]  # fmt: skip
        for _ in range(3):  # three evaluation rounds of both evaluators
            for sink in sinks:
                sink.send(alerts)
            for sink in sinks:
                assert sink.flush()
            time.sleep(1)
        webhook.wait_for(1, timeout_s=20)
        time.sleep(8)  # past the second node's peer timeout: it must have stayed quiet
    finally:
        for sink in sinks:
            sink.stop()
        for node in nodes:
            node.terminate()
            node.wait(10)
    payloads = webhook.payloads
    assert len(payloads) == 1, [p["alerts"] for p in payloads]
    assert payloads[0]["version"] == "4"
    assert sorted(a["labels"]["jbox_id"] for a in payloads[0]["alerts"]) == ["jbox-0000", "jbox-0001", "jbox-0002"]
