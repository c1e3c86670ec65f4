"""Pull mode against real HTTP status endpoints (the simulator's), into the real InfluxDB."""

from __future__ import annotations

import pytest

from collector.scraper import Scraper
from config.collector import PullConfig, PullTarget
from simulator.status_server import StatusServer


@pytest.fixture
def status_server():
    server = StatusServer(lambda box, now: {"p_meas_kw": 100.0, "p_setpoint_kw": 110.0, "soc_pct": 48.0}).start()
    yield server
    server.stop()


def test_scrapes_feed_the_pipeline_and_record_health(collector, status_server) -> None:
    status_server.silent.add("jbox-0003")
    status_server.broken.add("jbox-0004")
    boxes = ["jbox-0001", "jbox-0002", "jbox-0003", "jbox-0004"]
    targets = [PullTarget(jbox_id=box, url=status_server.url_for(box)) for box in boxes]
    scraper = Scraper(PullConfig(enabled=True, timeout=0.5, targets=targets), collector.service).start()
    try:
        results = scraper.scrape_all()
        assert results == {"jbox-0001": "ok", "jbox-0002": "ok", "jbox-0003": "timeout", "jbox-0004": "error"}
    finally:
        scraper.stop()
    collector.drain()
    telemetry = collector.influx.query("SELECT last(soc_pct), site FROM telemetry GROUP BY jbox_id")
    assert sorted(telemetry["jbox_id"]) == ["jbox-0001", "jbox-0002"]
    assert telemetry["site"].tolist() == ["site-0", "site-0"]  # box metadata from the registry
    health = collector.influx.query("SELECT last(up) AS up FROM scrape GROUP BY jbox_id").set_index("jbox_id")
    assert health["up"].to_dict() == {"jbox-0001": True, "jbox-0002": True, "jbox-0003": False, "jbox-0004": False}


def test_an_oversized_status_answer_is_invalid_and_not_read_whole(collector_factory) -> None:
    collector = collector_factory(max_body_bytes=4096)
    big = StatusServer(lambda box, now: {"soc_pct": 48.0, "padding": "x" * 100_000}).start()
    small = StatusServer(lambda box, now: {"soc_pct": 48.0}).start()
    targets = [
        PullTarget(jbox_id="jbox-0001", url=big.url_for("jbox-0001")),
        PullTarget(jbox_id="jbox-0002", url=small.url_for("jbox-0002")),
    ]
    scraper = Scraper(PullConfig(enabled=True, timeout=5, targets=targets), collector.service).start()
    try:
        assert scraper.scrape_all() == {"jbox-0001": "invalid", "jbox-0002": "ok"}
    finally:
        scraper.stop()
        big.stop()
        small.stop()
    collector.drain()
    health = collector.influx.query("SELECT last(up) AS up FROM scrape GROUP BY jbox_id").set_index("jbox_id")
    assert health["up"].to_dict() == {"jbox-0001": False, "jbox-0002": True}
