"""Failure drills on the reference deployment (deploy/deploy.py), everything real on loopback:
nginx, 3 collectors, 2 rules evaluators, 2 jboxmon alerting, a 2-node Alertmanager cluster,
PostgreSQL, InfluxDB. One deployment for the module; the drills run in order on it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from storage import InfluxClient, InfluxSettings
from tests.alerting.conftest import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from deploy import Deployment  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(shutil.which(b) for b in ("nginx", "prometheus-alertmanager", "influxd")),
        reason="needs Debian's nginx, prometheus-alertmanager and influxdb",
    ),
]
BOXES = 24
DRILL_RULES = """\
groups:
  - name: drill
    interval: 1s
    rules:
      - alert: DrillOverheat
        condition:
          threshold: {measurement: telemetry, field: temp_max_c, aggregate: max, window: 30s, op: ">", value: 55}
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "{{ labels.jbox_id }} too hot"}
"""


@pytest.fixture(scope="module")
def deployment():
    folder = Path(tempfile.mkdtemp(prefix="jboxmon-drill-"))
    folder.chmod(0o711)  # PostgreSQL's user passes through to its folder
    rules = folder / "drill.yaml"
    rules.write_text(DRILL_RULES)
    receiver = WebhookReceiver()
    deployed = Deployment(folder / "deploy", webhook=receiver.url, rule_files=[str(rules)], group_wait="1s")
    try:
        deployed.up()
        deployed.register(BOXES)
        yield deployed, receiver
    finally:
        deployed.down()
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)


class Fleet:
    """Boxes pushing line protocol through nginx; a request is retried until acknowledged, as a
    box's client does, with the same points (same timestamps)."""

    def __init__(self, deployed: Deployment) -> None:
        self.url = deployed.url("nginx") + "/write"
        self.tokens = json.loads((deployed.dir / "tokens.json").read_text())
        self.acked: Counter[str] = Counter()
        self.retries = 0
        self.start_ns = time.time_ns() - 5 * 10**9  # recent: inside the rules' windows
        self._seq = 0
        self._lock = threading.Lock()

    def push(self, box: str, temp: float = 30.0, deadline_s: float = 30.0) -> None:
        with self._lock:
            self._seq += 1
            ts = self.start_ns + self._seq * 1000
        body = f"telemetry p_meas_kw=1.0,temp_max_c={temp} {ts}"
        headers = {"Authorization": f"Token {self.tokens[box]}"}
        give_up = time.monotonic() + deadline_s
        while True:
            try:
                status = requests.post(self.url, data=body, headers=headers, timeout=10).status_code
            except requests.RequestException:
                status = 0
            if status == 204:
                with self._lock:
                    self.acked[box] += 1
                return
            assert time.monotonic() < give_up, f"{box}: not acknowledged within {deadline_s}s (last status {status})"
            with self._lock:
                self.retries += 1
            time.sleep(0.2)

    def round(self, pool: ThreadPoolExecutor, boxes: list[str] | None = None, temp: float = 30.0) -> None:
        list(pool.map(lambda box: self.push(box, temp), boxes or list(self.tokens)))


def stored(deployed: Deployment, since_ns: int) -> Counter[str]:
    settings = InfluxSettings(url=deployed.url("influxdb"), database="jboxmon")
    with InfluxClient(settings) as influx:
        results = influx.query_raw(f"SELECT count(p_meas_kw) FROM telemetry WHERE time >= {since_ns} GROUP BY jbox_id")
    series = results[0].get("series", []) if results else []
    return Counter({s["tags"]["jbox_id"]: s["values"][0][1] for s in series})


def test_sigkill_a_collector_during_a_push_loses_nothing_and_stores_each_point_once(deployment) -> None:
    deployed, _ = deployment
    fleet = Fleet(deployed)
    victim = "collector-2"
    with ThreadPoolExecutor(8) as pool:
        fleet.round(pool)  # warm: every box has been served once
        pushing = pool.submit(lambda: [fleet.round(pool) for _ in range(3)])
        time.sleep(0.3)
        deployed.stop(victim, sig=signal.SIGKILL)  # mid-push: some requests are in flight there
        killed_at = time.monotonic()
        pushing.result()
        fleet.round(pool)  # every box, the victim's included, is served by the two others
        moved_within = time.monotonic() - killed_at
        spool = deployed.dir / "nodes" / victim / "spool"
        assert deployed.up(only=[victim]) == [victim]  # back on its own disk: its spool is delivered
        fleet.round(pool)
    assert moved_within < 30
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and stored(deployed, fleet.start_ns) != fleet.acked:
        time.sleep(0.5)
    assert stored(deployed, fleet.start_ns) == fleet.acked  # exactly once each, for every box
    assert sum(fleet.acked.values()) == BOXES * 6
    health = requests.get(deployed.url(victim) + "/health", timeout=5).json()
    assert health["spool_bytes"] == 0 and spool.exists()


def _groups(receiver: WebhookReceiver) -> Counter[str]:
    return Counter(p["groupKey"] for p in receiver.payloads if p["status"] == "firing")


def _fire(deployed: Deployment, boxes: list[str]) -> None:
    fleet = Fleet(deployed)
    with ThreadPoolExecutor(4) as pool:
        fleet.round(pool, boxes, temp=70.0)


def _wait_groups(receiver: WebhookReceiver, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(_groups(receiver)) < count:
        time.sleep(0.2)


def test_kill_an_evaluator_an_alerting_instance_and_an_alertmanager_one_notification_per_group(deployment) -> None:
    deployed, receiver = deployment
    regions = {}  # one box per region: one group per region (group_by alertname, region)
    for i in range(BOXES):
        regions.setdefault(("IDF", "PACA", "ARA", "NAQ")[i % 4], f"jbox-{i:05d}")
    boxes = list(regions.values())
    receiver.requests.clear()
    _fire(deployed, boxes[:2])  # everything up
    _wait_groups(receiver, 2)
    assert len(_groups(receiver)) == 2
    # let the notification log gossip settle: Alertmanager's HA is at-least-once for a notification
    # whose sender dies before its log entry reached the peer (that race is Alertmanager's, not ours)
    time.sleep(3)
    for victim in ("rules-1", "alerting-2", "alertmanager-1"):
        deployed.stop(victim, sig=signal.SIGKILL)
    _fire(deployed, boxes[2:])  # two new groups, with one of each component dead
    _wait_groups(receiver, 4, timeout_s=90)
    time.sleep(20)  # past the surviving Alertmanager's peer timeout (15 s): no late duplicate
    groups = _groups(receiver)
    assert len(groups) == 4 and set(groups.values()) == {1}, groups
    assert sorted(deployed.up()) == ["alerting-2", "alertmanager-1", "rules-1"]


def _tokens_cli(deployed: Deployment, node: str, *args: str) -> subprocess.CompletedProcess:
    config = deployed.dir / "nodes" / node / "jboxmon.yaml"
    return subprocess.run(
        [sys.executable, "-m", "jboxmon.cli", "--config", str(config), "tokens", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_postgresql_away_for_30s_known_tokens_keep_working_and_all_resumes(deployment) -> None:
    deployed, _ = deployment
    fleet = Fleet(deployed)
    deployed.stop("postgres")
    try:
        stopped = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            while time.monotonic() - stopped < 30:
                fleet.round(pool)  # known tokens, from every collector's snapshot
                failed = _tokens_cli(deployed, "rules-2", "issue", "jbox-new")
                assert failed.returncode == 1
                assert failed.stderr.startswith("jboxmon tokens issue: inventory: PostgreSQL at postgresql://")
                assert "nothing was changed, try again" in failed.stderr and "Traceback" not in failed.stderr
                time.sleep(5)
        for i in range(1, 4):
            health = requests.get(deployed.url(f"collector-{i}") + "/health", timeout=5).json()
            assert "inventory unreachable since" in health.get("inventory", ""), health
    finally:
        deployed.up(only=["postgres"])
    issued = _tokens_cli(deployed, "rules-1", "issue", "jbox-new", "--json")
    assert issued.returncode == 0, issued.stderr
    token = json.loads(issued.stdout)["jbox-new"]
    for i in range(1, 4):  # every collector, directly: the new token works within 3 s everywhere
        url = deployed.url(f"collector-{i}") + "/write"
        body = f"telemetry p_meas_kw=1 {time.time_ns()}"
        deadline = time.monotonic() + 3
        while requests.post(url, data=body, headers={"Authorization": f"Token {token}"}, timeout=5).status_code != 204:
            assert time.monotonic() < deadline, f"collector-{i} still refuses the new token"
            time.sleep(0.1)
        assert "inventory" not in requests.get(deployed.url(f"collector-{i}") + "/health", timeout=5).json()
    assert sum(fleet.acked.values()) >= BOXES * 3
