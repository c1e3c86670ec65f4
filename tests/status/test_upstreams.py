"""How the status page judges and survives its upstreams: health answers of every shape, a slow or hung
service, a huge answer, and its own staleness (an injected clock)."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

import pytest

from inventory.access import AccessPolicy
from jboxmon.httpserver import BackgroundServer
from jboxmon.status_component import StatusComponent
from status import create_app
from status.components import HEALTH_BYTES, judge
from status.service import StatusService, targets
from storage.http import HttpClient
from tests.status.conftest import HealthServer, make_config


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"status": "ok"}, ("up", "")),
        (200, {"last_pass": None, "last_error": None}, ("up", "")),  # retention before its first pass
        (200, {"status": "degraded: last reload failed"}, ("degraded", "degraded: last reload failed")),
        (503, {"status": "degraded: InfluxDB down"}, ("degraded", "degraded: InfluxDB down")),  # the collector
        (503, {"last_pass": None, "last_error": "OSError: full"}, ("degraded", "last pass failed: OSError: full")),
        (503, None, ("down", "/health answered 503")),  # a proxy's error page: nothing to trust
        (404, {"detail": "Not Found"}, ("down", "/health answered 404")),  # not a jboxmon service there
        (500, {"status": "boom"}, ("down", "/health answered 500: boom")),
    ],
)  # fmt: skip
def test_judge(status: int, body: object, expected: tuple[str, str]) -> None:
    assert judge(status, body) == expected


def _all(url: str) -> dict[str, str]:
    return {"collector": url, "rules": url, "alerting": url, "retention": url}


def test_garbage_and_oversized_answers_are_down(tmp_path: Path, health_servers: list[HealthServer]) -> None:
    garbage = HealthServer(200, b"<html>it works</html>")
    huge = HealthServer(200, {"status": "ok", "pad": "x" * HEALTH_BYTES})
    health_servers += [garbage, huge]
    config = make_config(tmp_path, {**_all(garbage.url), "rules": huge.url})
    service = StatusService(config)
    try:
        by_name = {c.name: c for c in service.refresher.refresh_once().components}
    finally:
        service.stop()
    assert by_name["collector"].state == "up"  # 200 without JSON: alive, says nothing else
    assert by_name["rules"].state == "down" and f"larger than {HEALTH_BYTES} bytes" in by_name["rules"].reason


def test_a_hung_upstream_does_not_hang_the_page(tmp_path: Path, health_servers: list[HealthServer]) -> None:
    """One service answers a byte every 0.3 s (so the HTTP read timeout never fires): the round ends
    after the timeout, the page keeps answering at once, and the next round does not pile another
    request on the hung one."""
    fine, hung = HealthServer(), HealthServer(drip_s=0.3)
    health_servers += [fine, hung]
    config = make_config(tmp_path, {**_all(fine.url), "retention": hung.url}, timeout=0.5, refresh=30)
    status = StatusComponent(config, port=0)
    status.http.start()
    try:
        round_done = threading.Event()
        thread = threading.Thread(target=lambda: (status.service.refresher.refresh_once(), round_done.set()))
        started = time.monotonic()
        thread.start()
        with HttpClient() as http:  # while the round is waiting: the page answers (no data yet), fast
            response = http.request("GET", status.url + "/", timeout=5)
            assert response.status_code == 200 and "first round of checks" in response.text
            assert http.request("GET", status.url + "/health", check=False).status_code == 503
        assert round_done.wait(10)
        elapsed = time.monotonic() - started
        assert elapsed < 3.0, f"a round took {elapsed:.1f}s with a 0.5s timeout"
        snapshot = status.service.snapshot
        retention = {c.name: c for c in snapshot.components}["retention"]
        assert retention.state == "down" and "0.5s" in retention.reason and retention.url == hung.url
        status.service.refresher.refresh_once()  # the hung request still runs: not asked again
        assert hung.hits == 1
    finally:
        status.stop()


def test_stale_snapshot_is_flagged_and_health_says_so(tmp_path: Path, health_servers: list[HealthServer]) -> None:
    up = HealthServer()
    health_servers.append(up)
    now = [time.time()]
    config = make_config(tmp_path, _all(up.url), refresh=5, stale_after=60)
    service = StatusService(config, clock=lambda: now[0])
    server = BackgroundServer(create_app(service, access=AccessPolicy.open()), "127.0.0.1", 0).start()
    client = HttpClient(server.url)
    get = partial(client.request, "GET", check=False)
    try:
        service.refresher.refresh_once()
        assert get("/health").json() == {"status": "ok"}
        assert get("/api/v1/status").json()["stale"] is False
        now[0] += 120  # the refresher stopped two minutes ago
        doc = get("/api/v1/status").json()
        assert doc["stale"] is True and doc["snapshot_age_s"] == 120.0
        assert all(c["stale"] and c["checked_ago_s"] >= 120 for c in doc["components"])
        assert "is 2m old" in get("/").text
        health = get("/health")
        assert health.status_code == 503 and "last refresh 120s ago" in health.json()["status"]
    finally:
        client.close()
        server.stop()
        service.stop()


def test_targets_default_to_listen_addresses(tmp_path: Path) -> None:
    config = make_config(tmp_path, {})
    config = config.model_copy(update={
        "collector": config.collector.model_copy(update={"listen": "0.0.0.0:9181"}),
        "retention": config.retention.model_copy(update={"enabled": False}),
    })  # fmt: skip
    found = {t.name: (t.url, t.enabled) for t in targets(config)}
    assert found["collector"] == ("http://127.0.0.1:9181", True)  # a wildcard address is reached on loopback
    assert found["rules"] == ("http://127.0.0.1:8182", True)
    assert found["retention"][1] is False
    service = StatusService(config)
    try:
        retention = {c.name: c for c in service.refresher.refresh_once().components}["retention"]
    finally:
        service.stop()
    assert retention.state == "disabled"


def test_a_refresh_round_that_raises_is_counted_named_and_retried(
    tmp_path: Path, health_servers: list[HealthServer]
) -> None:
    up = HealthServer()
    health_servers.append(up)
    config = make_config(tmp_path, _all(up.url), refresh=2)
    service = StatusService(config)
    record = service.refresher.on_snapshot
    rounds = []

    def fails_first(snapshot, seconds) -> None:  # the seam: publishing a round's metrics raises once
        rounds.append(snapshot)
        if len(rounds) == 1:
            raise KeyError("component")
        record(snapshot, seconds)

    service.refresher.on_snapshot = fails_first
    service.refresher.loops.backoff_initial_s = 1.0  # long enough to look at the failing state
    server = BackgroundServer(create_app(service, access=AccessPolicy.open()), "127.0.0.1", 0).start()
    client = HttpClient(server.url)
    try:
        service.start()
        deadline = time.monotonic() + 10
        while not service.refresher.loops.problems() and time.monotonic() < deadline:
            time.sleep(0.02)
        health = client.request("GET", "/health", check=False)
        assert health.status_code == 503
        assert health.json()["loops"] == [
            "loop status-refresher failing (1 error(s) in a row, restarting): KeyError: 'component'"
        ]
        while (len(rounds) < 2 or service.refresher.loops.problems()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.request("GET", "/health", check=False).status_code == 200
        metrics = client.request("GET", "/metrics").text
        assert 'jboxmon_status_loop_errors_total{loop="status-refresher"} 1.0' in metrics
        assert 'jboxmon_status_loop_healthy{loop="status-refresher"} 1.0' in metrics
    finally:
        client.close()
        server.stop()
        service.stop()
