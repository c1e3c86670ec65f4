"""Supervision of the collector's background loops, each with a real fault injected at one seam:
the loop is restarted, ``jboxmon_collector_loop_errors_total`` counts it, ``/health`` answers 503
naming it, and everything recovers by itself once the cause is gone (nothing acknowledged lost).
An unreadable inventory is no loop error: the token cache serves its last snapshot and says so."""

from __future__ import annotations

import errno
import threading
import time

import requests

from inventory import Registry
from tests.collector.conftest import registry_path

V1 = {"jbox_id": "jbox-0001", "kind": "telemetry", "p_kw": 100.0}


def wait_for(predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def loop_errors(url: str, loop: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    prefix = f'jboxmon_collector_loop_errors_total{{loop="{loop}"}} '
    return float(next(line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)))


def health(url: str) -> tuple[int, dict]:
    response = requests.get(url + "/health", timeout=5)
    return response.status_code, response.json()


class RaiseWhile:
    """Wraps a method: raises ``error`` while ``broken`` is set, else calls through."""

    def __init__(self, method, error: Exception) -> None:
        self.method = method
        self.error = error
        self.broken = threading.Event()
        self.broken.set()
        self.raised = 0

    def __call__(self, *args, **kwargs):
        if self.broken.is_set():
            self.raised += 1
            raise self.error
        return self.method(*args, **kwargs)


def rows(influx, measurement: str = "telemetry") -> int:
    frame = influx.query(f'SELECT count("p_meas_kw") FROM "{measurement}"')
    return 0 if frame.empty else int(frame.iloc[0, -1])


def test_spool_writer_killed_by_emfile_is_restarted_reported_and_delivers_after(collector, monkeypatch) -> None:
    # the case seen in the field: OSError EMFILE out of the writer's loop, which caught only InfluxError
    spool = collector.service.spool
    fault = RaiseWhile(spool.read, OSError(errno.EMFILE, "Too many open files"))
    monkeypatch.setattr(spool, "read", fault)
    assert collector.post("/v1/telemetry", json=V1).status_code == 202  # on disk: acknowledged
    wait_for(lambda: fault.raised >= 1)
    status, body = health(collector.url)
    assert status == 503 and body["loops"][0].startswith("loop spool-writer failing")
    assert "OSError: [Errno 24] Too many open files" in body["status"]
    assert loop_errors(collector.url, "spool-writer") >= 1
    fault.broken.clear()  # the file descriptors are back
    wait_for(lambda: rows(collector.influx) == 1)
    wait_for(lambda: health(collector.url)[0] == 200)
    assert health(collector.url)[1]["status"] == "ok"


def test_a_writer_that_delivers_nothing_while_influxdb_answers_is_named_after_its_bound(collector, monkeypatch) -> None:
    writer = collector.service.writer
    monkeypatch.setattr(writer, "stall_after_s", 0.3)
    monkeypatch.setattr(collector.service.spool, "read", lambda max_lines: [])  # a loop alive but stuck
    assert collector.post("/v1/telemetry", json=V1).status_code == 202
    status, body = wait_for(lambda: (h := health(collector.url))[0] == 503 and h)
    assert body["loops"][0].startswith("loop spool-writer: oldest spooled record")
    assert body["loops"][0].endswith("while InfluxDB answers")
    monkeypatch.undo()
    wait_for(lambda: rows(collector.influx) == 1)
    assert health(collector.url)[0] == 200


def test_a_failed_fsync_answers_500_counts_and_clears_with_the_next_one(collector, monkeypatch) -> None:
    spool = collector.service.spool
    fault = RaiseWhile(spool.sync, OSError(errno.EIO, "Input/output error"))
    monkeypatch.setattr(spool, "sync", fault)
    assert collector.post("/v1/telemetry", json=V1).status_code == 500  # never a 2xx without the disk
    status, body = health(collector.url)
    assert status == 503 and "loop spool-fsync failing" in body["status"] and "Input/output error" in body["status"]
    assert loop_errors(collector.url, "spool-fsync") == 1
    fault.broken.clear()
    assert collector.post("/v1/telemetry", json=V1).status_code == 202
    assert health(collector.url)[0] == 200


def test_token_refresh_survives_an_unreadable_registry(collector, monkeypatch, tmp_path) -> None:
    # an unreadable inventory (a locked SQLite file, PostgreSQL away) is not a loop error: the cache keeps
    # its last snapshot, /health stays 200 (a load balancer must not pull a collector that still serves
    # known tokens) and names the inventory problem; the refresh loop stays alive and picks up what
    # changed in the registry as soon as it can be read again
    tokens = collector.service.tokens
    fault = RaiseWhile(tokens.registry.changes, OSError(errno.EACCES, "registry unreadable"))
    monkeypatch.setattr(tokens.registry, "changes", fault)
    wait_for(lambda: fault.raised >= 2)  # the loop keeps trying, tick after tick
    status, body = wait_for(lambda: (h := health(collector.url))[1].get("inventory") and h)
    assert status == 200 and body["loops"] == []
    assert body["status"] == "degraded: inventory unreachable, serving known tokens"
    assert "inventory unreachable since" in body["inventory"] and "registry unreadable" in body["inventory"]
    assert "serving 2 tokens from the snapshot" in body["inventory"]
    assert loop_errors(collector.url, "token-refresh") == 0
    assert collector.post("/v1/telemetry", json=V1).status_code == 202  # the last snapshot still serves
    # a token issued meanwhile waits for the registry (a miss does not ask it while it fails)
    with Registry(registry_path(tmp_path)) as registry:
        late = registry.issue("jbox-0003", site="site-9", region="IDF", service="fcr")
    collector.tokens["jbox-0003"] = late
    v3 = {**V1, "jbox_id": "jbox-0003"}
    assert collector.post("/v1/telemetry", box="jbox-0003", json=v3).status_code == 401
    fault.broken.clear()
    wait_for(lambda: "inventory" not in health(collector.url)[1])
    status, body = health(collector.url)
    assert status == 200 and body["status"] == "ok"
    assert loop_errors(collector.url, "token-refresh") == 0
    assert collector.post("/v1/telemetry", box="jbox-0003", json=v3).status_code == 202  # reloaded


def test_health_answers_503_when_the_spool_cannot_be_read(collector, monkeypatch) -> None:
    # with no descriptor left, reading the oldest record's age raised and /health answered a bare 500
    spool = collector.service.spool
    fault = RaiseWhile(spool.oldest_age_s, OSError(errno.EMFILE, "Too many open files"))
    monkeypatch.setattr(spool, "oldest_age_s", fault)
    status, body = health(collector.url)
    assert status == 503 and body["spool_oldest_age_s"] is None
    assert "spool unreadable: [Errno 24] Too many open files" in body["status"]
    fault.broken.clear()
    assert health(collector.url)[0] == 200


def test_the_scraper_survives_a_round_that_raises(collector, monkeypatch) -> None:
    from collector.scraper import Scraper
    from config.collector import PullConfig, PullTarget
    from simulator.status_server import StatusServer

    box = StatusServer(lambda jbox_id, now: {"soc_pct": 48.0}).start()
    registry = collector.service.registry
    fault = RaiseWhile(registry.boxes, OSError(errno.EMFILE, "Too many open files"))  # each round reads it
    monkeypatch.setattr(registry, "boxes", fault)
    targets = [PullTarget(jbox_id="jbox-0001", url=box.url_for("jbox-0001"))]
    scraper = Scraper(PullConfig(enabled=True, interval=1, timeout=0.5, targets=targets), collector.service).start()
    try:
        wait_for(lambda: loop_errors(collector.url, "scraper") >= 1)
        assert "loop scraper failing" in health(collector.url)[1]["status"]
        fault.broken.clear()
        wait_for(lambda: health(collector.url)[0] == 200)
        wait_for(lambda: collector.influx.count("scrape", "up") >= 1)
    finally:
        scraper.stop()
        box.stop()
