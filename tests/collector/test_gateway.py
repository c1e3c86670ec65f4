"""The ingestion gateway end to end: real uvicorn, real InfluxDB, real clients."""

from __future__ import annotations

import gzip
import re
import time

import pytest
import requests
from influxdb_client import InfluxDBClient, Point, WriteOptions
from influxdb_client.client.write_api import SYNCHRONOUS

NOW = int(time.time())


def count(collector, measurement="telemetry", field="soc_pct", where="") -> int:
    collector.drain()
    return collector.influx.count(measurement, field, where)


def test_influxdb_client_write_api_pushes_with_a_box_token(collector) -> None:
    with InfluxDBClient(url=collector.url, token=collector.tokens["jbox-0001"], org="any") as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        points = [
            Point("telemetry").tag("jbox_id", "jbox-0001").field("soc_pct", 50.0 + i).time((NOW - 60 + i) * 10**9)
            for i in range(50)
        ]
        write_api.write(bucket="jboxmon", record=points)
        # no jbox_id tag: filled in from the token
        write_api.write(bucket="jboxmon", record="telemetry p_meas_kw=12.5")
    assert count(collector) == 50
    frame = collector.influx.query(
        'SELECT "p_meas_kw", "jbox_id", "site", "region", "service" FROM "telemetry" WHERE "p_meas_kw" > 0'
    )
    assert frame[["jbox_id", "site", "region", "service"]].iloc[0].tolist() == ["jbox-0001", "site-0", "IDF", "fcr"]


def test_batching_write_api_with_gzip_lands_everything(collector) -> None:
    options = WriteOptions(batch_size=500, flush_interval=200, max_retries=3)
    with InfluxDBClient(url=collector.url, token=collector.tokens["jbox-0002"], org="o", enable_gzip=True) as client:
        with client.write_api(write_options=options) as write_api:
            for i in range(2000):
                write_api.write("b", record=f"telemetry,jbox_id=jbox-0002 soc_pct={i}.0 {(NOW - 3000 + i) * 10**9}")
    assert count(collector, where="\"jbox_id\" = 'jbox-0002'") == 2000


def test_a_box_token_cannot_write_another_box(collector) -> None:
    response = collector.post("/write", data=f"telemetry,jbox_id=jbox-0002 soc_pct=1 {NOW}", params={"precision": "s"})
    assert response.status_code == 403
    assert "belongs to 'jbox-0001' and cannot write data of 'jbox-0002'" in response.json()["error"]
    v2 = {"header": {"jbox_id": "jbox-0002"}, "samples": [{"soc_pct": 1.0}]}
    assert collector.post("/v2/telemetry", json=v2).status_code == 403
    assert count(collector) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Token jbx_not-a-real-token"}, {"Authorization": "Basic !!!"}, {"Authorization": "Token"}],
)
def test_missing_or_unknown_tokens_get_401(collector, headers) -> None:
    response = collector.post("/write", box=None, headers=headers, data=f"telemetry soc_pct=1 {NOW}000000000")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_bearer_basic_and_v1_query_param_auth(collector) -> None:
    token = collector.tokens["jbox-0001"]
    body = f"telemetry soc_pct=1 {NOW}"
    assert collector.post("/write?precision=s", box=None, headers={"Authorization": f"Bearer {token}"}, data=body).ok
    assert requests.post(f"{collector.url}/write?precision=s", auth=("telegraf", token), data=body).status_code == 204
    assert requests.post(f"{collector.url}/write?precision=s&u=x&p={token}", data=body).status_code == 204


def test_revoked_token_gets_401_and_rotated_token_overlaps(collector) -> None:
    registry, cache = collector.service.registry, collector.service.tokens
    clock = FakeClock()
    registry.clock = cache.clock = clock
    old = collector.tokens["jbox-0001"]
    new = registry.rotate("jbox-0001", overlap_s=3600)
    cache.refresh()  # what the cache's refresh thread does within collector.token_refresh
    body = f"telemetry soc_pct=1 {NOW}"
    for token in (old, new):
        assert (
            collector.post("/write?precision=s", headers={"Authorization": f"Token {token}"}, data=body).status_code
            == 204
        )
    clock.advance(3601)
    assert collector.post("/write?precision=s", headers={"Authorization": f"Token {old}"}, data=body).status_code == 401
    assert collector.post("/write?precision=s", headers={"Authorization": f"Token {new}"}, data=body).status_code == 204
    assert registry.revoke("jbox-0001") == 1
    cache.refresh()
    assert collector.post("/write?precision=s", headers={"Authorization": f"Token {new}"}, data=body).status_code == 401


def test_mixed_batch_keeps_good_lines_and_names_the_first_bad(collector) -> None:
    body = "\n".join(
        [
            f"telemetry soc_pct=50 {NOW}",
            f'telemetry soc_pct="high" {NOW + 1}',
            f"telemetry soc_pct=51 {NOW + 2}",
            "garbage",
            f"unknown_measurement v=1 {NOW + 3}",
            f"telemetry soc_pct=52 {NOW + 4000}",  # an hour in the future
            f"telemetry soc_pct=53 {NOW + 5}",
        ]
    )
    response = collector.post("/write?precision=s", data=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"].startswith("partial write: line 2: field 'soc_pct' must be float, got 'high'")
    assert payload["error"].endswith("(and 3 more) dropped=4")
    assert payload["accepted"] == 3 and payload["rejected"] == 4
    assert any(re.match(r"line 6: timestamp is \d+s in the future", e) for e in payload["errors"])
    assert count(collector) == 3


def test_v1_and_v2_payloads_are_normalised_into_one_model(collector) -> None:
    v1 = {
        "jbox_id": "jbox-0001",
        "ts": NOW - 10,
        "kind": "telemetry",
        "p_kw": 400.0,
        "sp_kw": 410.0,
        "f_hz": 49.98,
        "soc": 55.5,
        "t_max": 31.0,
    }
    assert collector.post("/v1/telemetry", json=v1).status_code == 202
    heartbeat = {
        "jbox_id": "jbox-0001",
        "ts": NOW - 5,
        "kind": "heartbeat",
        "uptime_s": 100,
        "fw": "1.4.2",
        "disk_pct": 40.0,
    }
    assert collector.post("/v1/telemetry", json=heartbeat).status_code == 202
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW - 10))
    v2 = {
        "header": {"jbox_id": "jbox-0002", "fw_version": "2.1.0", "sent_at": stamp + "Z", "seq": 1},
        "samples": [
            {
                "time": stamp + ".000Z",
                "p_meas_kw": 400.0,
                "p_setpoint_kw": 410.0,
                "grid_freq_hz": 49.98,
                "soc_pct": 55.5,
                "temp_max_c": 31.0,
            }
        ],
        "heartbeat": {"time": stamp + "Z", "uptime_s": 100, "disk_used_pct": 40.0},
    }
    response = collector.post("/v2/telemetry", box="jbox-0002", json=v2)
    assert response.status_code == 202 and response.json() == {"accepted": 2}
    collector.drain()
    frame = collector.influx.query('SELECT * FROM "telemetry" GROUP BY "jbox_id"').set_index("jbox_id")
    columns = ["p_meas_kw", "p_setpoint_kw", "grid_freq_hz", "soc_pct", "temp_max_c", "time"]
    assert frame.loc["jbox-0001", columns].tolist() == frame.loc["jbox-0002", columns].tolist()
    beats = collector.influx.query('SELECT * FROM "heartbeat" GROUP BY "jbox_id"').set_index("jbox_id")
    assert beats.loc["jbox-0001", "payload_version"] == 1 and beats.loc["jbox-0002", "payload_version"] == 2
    assert beats.loc["jbox-0002", "fw_version"] == "2.1.0"


def test_logs_go_to_the_logs_retention_policy(collector) -> None:
    minute_ago = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 60))  # inside every policy, always
    entries = [
        {"time": f"{minute_ago}.001Z", "level": "error", "code": "E042", "message": 'inverter "3" tripped'},
        {"time": f"{minute_ago}.002Z", "level": "shouting", "code": "X"},
    ]
    response = collector.post("/v1/logs", json={"jbox_id": "jbox-0001", "entries": entries})
    assert response.status_code == 400
    assert "entries[1].level: expected one of debug, info, warning, error, critical, got 'shouting'" in response.text
    collector.drain()
    frame = collector.influx.query('SELECT * FROM "logs"."log"')
    assert frame["message"].tolist() == ['inverter "3" tripped'] and frame["level"].tolist() == ["error"]


def test_body_limit_gzip_bomb_and_content_type(collector_factory) -> None:
    collector = collector_factory(max_body_bytes=1000)
    assert collector.post("/write", data="x" * 2000).status_code == 413
    bomb = gzip.compress(b"telemetry soc_pct=1\n" * 10_000)
    assert len(bomb) < 1000
    response = collector.post("/write", data=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert collector.post("/v1/telemetry", data="{}", headers={"Content-Type": "text/csv"}).status_code == 415
    good = gzip.compress(f"telemetry soc_pct=1 {NOW}".encode())
    assert collector.post("/write?precision=s", data=good, headers={"Content-Encoding": "gzip"}).status_code == 204


def test_rate_limit_answers_429_with_retry_after(collector_factory) -> None:
    from config.collector import RateLimit

    collector = collector_factory(rate_limit=RateLimit(points_per_s=10, burst_points=100))
    body = "\n".join(f"telemetry soc_pct={i} {NOW - 200 + i}" for i in range(100))
    assert collector.post("/write?precision=s", data=body).status_code == 204
    response = collector.post("/write?precision=s", data=body)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 11
    assert count(collector) == 100  # the refused request wrote nothing


def test_deprecated_then_retired_payload_version(collector_factory) -> None:
    import datetime as dt

    from config.collector import PayloadVersionPolicy

    today = dt.date.today()
    policies = {
        "v1": PayloadVersionPolicy(deprecated_since=today - dt.timedelta(days=30), sunset=today + dt.timedelta(days=30))
    }
    collector = collector_factory(payload_versions=policies)
    response = collector.post("/v1/telemetry", json={"ts": NOW, "soc": 50.0})
    assert response.status_code == 202
    assert response.headers["Deprecation"].startswith("@")
    assert response.headers["Sunset"].endswith("GMT")
    assert 'rel="successor-version"' in response.headers["Link"]
    assert "Deprecation" not in collector.post("/v2/telemetry", json={"header": {}, "samples": []}).headers
    metrics = requests.get(collector.url + "/metrics").text
    assert 'jboxmon_collector_deprecated_payloads_total{version="v1"} 1.0' in metrics


def test_retired_payload_version_gets_410_naming_the_replacement(collector_factory) -> None:
    import datetime as dt

    from config.collector import PayloadVersionPolicy

    past = dt.date.today() - dt.timedelta(days=1)
    collector = collector_factory(payload_versions={"v1": PayloadVersionPolicy(deprecated_since=past, sunset=past)})
    response = collector.post("/v1/telemetry", json={"ts": NOW, "soc": 50.0})
    assert response.status_code == 410
    assert f"payload v1 was retired on {past}: send /v2/telemetry instead" == response.json()["error"]


def test_full_spool_answers_503_and_never_drops(collector_factory) -> None:
    collector = collector_factory(spool_max_bytes=700)
    collector.service.writer.stop()  # nothing drains: the spool fills
    body = "\n".join(f"telemetry soc_pct={i} {NOW - 100 + i}" for i in range(5))
    assert collector.post("/write?precision=s", data=body).status_code == 204
    response = collector.post("/write?precision=s", data=body)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    collector.service.writer.start()
    assert count(collector) == 5


def test_health_metrics_and_openapi(collector) -> None:
    assert requests.get(collector.url + "/health").json()["status"] == "ok"
    collector.post("/write", data="garbage")
    text = requests.get(collector.url + "/metrics").text
    assert 'jboxmon_collector_requests_total{endpoint="/write",status="400",version=""} 1.0' in text
    assert 'jboxmon_collector_points_total{reason="parse",result="rejected"} 1.0' in text
    assert "jboxmon_collector_spool_bytes" in text
    spec = requests.get(collector.url + "/openapi.json").json()
    assert {"/v1/telemetry", "/v2/telemetry", "/v1/logs", "/write", "/api/v2/write"} <= set(spec["paths"])


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_influxdb_client_honours_retry_after_and_everything_lands(collector_factory) -> None:
    from config.collector import RateLimit

    collector = collector_factory(rate_limit=RateLimit(points_per_s=400, burst_points=400))
    options = WriteOptions(
        batch_size=400,
        flush_interval=100,
        max_retries=10,
        retry_interval=500,
        max_retry_delay=5_000,
        exponential_base=1,
    )
    started = time.monotonic()
    with InfluxDBClient(url=collector.url, token=collector.tokens["jbox-0001"], org="o") as client:
        with client.write_api(write_options=options) as write_api:
            for i in range(1200):
                write_api.write("b", record=f"telemetry soc_pct={i}.0 {(NOW - 2000 + i) * 10**9}")
    assert count(collector) == 1200
    assert time.monotonic() - started >= 1.5  # 1,200 points at 400/s after a 400-point burst: throttled
    metrics = requests.get(collector.url + "/metrics").text
    assert 'endpoint="/api/v2/write",status="429"' in metrics
