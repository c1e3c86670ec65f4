"""What a 2xx promises, against a running collector and a real influxd: the data lands, with the
registry's tags, only declared tag values, within a box's series budget; a request is spooled whole
or not at all; what InfluxDB still refuses is kept line by line, each with its box and reason."""

from __future__ import annotations

import json
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import requests

from collector.deadletter import DeadLetterStore
from collector.service import IngestService
from collector.spool import Spool, SpoolFullError, spool_lines
from config.model import RetentionConfig
from inventory import Registry
from jboxmon.collector_component import CollectorServer
from storage import InfluxClient, InfluxSettings
from storage.client import retention_policies
from storage.server import InfluxServer, free_port
from tests.collector.conftest import issue_tokens, make_config, registry_path
from tests.collector.test_durability import run_collector

RETENTION = RetentionConfig()
RETENTION_S = {"raw": RETENTION.raw, "logs": RETENTION.logs}


def _post(url: str, token: str, body: str, path: str = "/write") -> requests.Response:
    return requests.post(url + path, data=body.encode(), headers={"Authorization": f"Token {token}"}, timeout=10)


def _wait(predicate, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # InfluxDB still starting, database not there yet
            pass
        time.sleep(0.2)
    return False


def log_count(client: InfluxClient) -> int:
    """Points of the ``log`` measurement, which lives in the ``logs`` retention policy."""
    frame = client.query('SELECT count("code") FROM "logs"."log"')
    return 0 if frame.empty else int(frame["count"].sum())


def test_influxdb_started_after_the_collector_with_an_empty_data_dir_gets_every_acknowledged_point(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = InfluxSettings(
        url=f"http://127.0.0.1:{port}", database="late", timeout_s=2, retention_policies=retention_policies(RETENTION)
    )
    client = InfluxClient(settings)
    tokens = issue_tokens(registry_path(tmp_path), ["jbox-0001", "jbox-0002"])
    service = IngestService(
        make_config(tmp_path), client, registry=Registry(registry_path(tmp_path)), retention_s=RETENTION_S
    )
    server = CollectorServer(service).start()
    influxd = InfluxServer(tmp_path / "influx", http_port=port)
    sent = {"telemetry": 0, "log": 0}

    def push(round_: int) -> None:
        now = time.time_ns()
        for token in tokens.values():
            body = [f"telemetry soc_pct={i}.5 {now + i}" for i in range(100)]
            body += [f'log,level=error code="E{round_}",message="m{i}" {now + i}' for i in range(20)]
            assert _post(server.url, token, "\n".join(body)).status_code == 204
            sent["telemetry"] += 100
            sent["log"] += 20

    def all_stored() -> bool:
        return client.count("telemetry", "soc_pct") == sent["telemetry"] and log_count(client) == sent["log"]

    try:
        push(1)  # InfluxDB is not even running: spooled, acknowledged
        assert _wait(lambda: requests.get(server.url + "/health", timeout=5).status_code == 503, 20)
        health = requests.get(server.url + "/health", timeout=5).json()
        assert health["status"].startswith("degraded: ") and "InfluxDB" in health["status"], health
        assert health["spool_bytes"] > 0

        influxd.start()  # empty data directory: no database, no retention policy
        assert _wait(all_stored), (client.count("telemetry", "soc_pct"), sent)
        assert _wait(lambda: requests.get(server.url + "/health", timeout=5).status_code == 200, 20)

        influxd.stop()  # the data directory is wiped while the collector runs
        shutil.rmtree(tmp_path / "influx")
        influxd.start()
        sent = {"telemetry": 0, "log": 0}
        push(2)
        assert _wait(all_stored), (client.count("telemetry", "soc_pct"), sent)
        assert DeadLetterStore(tmp_path / "spool").entries() == []
    finally:
        server.stop()
        influxd.stop()
        client.close()


def test_box_tags_come_from_the_registry_only(collector) -> None:
    with Registry(registry_path(Path(collector.service.config.spool_dir).parent)) as registry:
        bare = registry.issue("jbox-bare")  # registered without site, region or service
    now = time.time_ns()
    spoofed = f"telemetry,site=s1,region=IDF,service=fcr soc_pct=1.5 {now}"
    assert _post(collector.url, bare, spoofed).status_code == 204
    moved = f"telemetry,region=EVIL,site=elsewhere,service=afrr soc_pct=2.5 {now}"
    assert collector.post("/write", data=moved.encode()).status_code == 204
    collector.drain()
    rows = collector.influx.query_raw("SHOW SERIES FROM telemetry")[0]["series"][0]["values"]
    assert sorted(row[0] for row in rows) == [
        "telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-0",
        "telemetry,jbox_id=jbox-bare",
    ]


def test_a_box_sets_only_declared_tag_values(collector) -> None:
    evil = collector.post("/write", data=b'log,level=EVIL_LEVEL_16159 code="x"')
    assert evil.status_code == 400 and "expected one of debug, info, warning, error, critical" in evil.text
    as_json = collector.post("/v1/logs", json={"entries": [{"level": "EVIL", "code": "x", "message": "m"}]})
    assert as_json.status_code == 400
    assert collector.post("/write", data=b"telemetry,colour=red soc_pct=1").status_code == 400
    assert collector.post("/write", data=b"scrape up=true").status_code == 400  # only the scraper writes it
    assert collector.post("/write", data=b'log,level=error code="x"').status_code == 204
    collector.drain()
    assert log_count(collector.influx) == 1


def test_a_box_over_its_series_budget_gets_a_clear_400(collector_factory) -> None:
    collector = collector_factory(max_series_per_box=3)
    for level in ("debug", "info", "warning"):
        assert collector.post("/write", data=f'log,level={level} code="x"'.encode()).status_code == 204
    over = collector.post("/write", data=b'log,level=error code="x"')
    assert over.status_code == 400
    assert "series budget" in over.json()["error"] and "collector.max_series_per_box" in over.json()["error"]
    assert collector.post("/write", data=b'log,level=info code="y"').status_code == 204  # known series go on
    other = collector.post("/write", box="jbox-0002", data=b'log,level=error code="x"')
    assert other.status_code == 204  # the budget is per box


def test_a_request_is_spooled_whole_or_not_at_all(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1000).open()
    half = ["x" * 99] * 6  # about 600 bytes per policy: one fits, both do not
    try:
        spool_lines(spool, {"raw": half, "logs": half})
        raise AssertionError("the spool should be full")
    except SpoolFullError:
        pass
    assert spool.pending_bytes == 0 and spool.read() == []
    position = spool_lines(spool, {"raw": ["a 1"], "logs": ["b 2"]})
    spool.sync(position)
    assert [(r.retention_policy, r.lines) for r in spool.read()] == [("", b"a 1"), ("logs", b"b 2")]
    spool.close()
    # a crash in the middle of that one record (torn tail) loses both policies' lines, never one
    segment = next((tmp_path / "spool").glob("*.seg"))
    segment.write_bytes(segment.read_bytes()[:-1])
    assert Spool(tmp_path / "spool").open().read() == []


def test_spool_age_counts_from_the_oldest_undelivered_record(tmp_path: Path) -> None:
    now = [1000.0]
    spool = Spool(tmp_path / "spool", clock=lambda: now[0]).open()
    spool.sync(spool.write(b"a 1"))
    now[0] = 1010.0
    spool.sync(spool.write(b"b 2"))
    first = spool.read(max_lines=1)
    spool.commit(first[-1])
    now[0] = 1020.0
    assert spool.oldest_age_s() == 10.0  # b's age, not the segment's first append
    spool.close()
    reopened = Spool(tmp_path / "spool", clock=lambda: now[0]).open()
    assert reopened.oldest_age_s() == 10.0  # the time is in the record: it survives a restart
    reopened.commit(reopened.read()[-1])
    assert reopened.oldest_age_s() == 0.0


def test_dead_letters_hold_only_the_refused_lines_with_box_reason_and_time(collector) -> None:
    now = time.time_ns()
    # another writer made temp_min_c a string: InfluxDB now refuses the collector's floats for it
    collector.influx.write([f'telemetry,jbox_id=other temp_min_c="cold" {now}'])
    assert collector.post("/write", data=f"telemetry temp_min_c=1.5 {now + 1}".encode()).status_code == 204
    good = "\n".join(f"telemetry soc_pct={i}.5 {now + i}" for i in range(50))
    assert collector.post("/write", box="jbox-0002", data=good.encode()).status_code == 204
    collector.drain()
    letters = DeadLetterStore(collector.service.config.spool_dir).entries()
    assert [(letter.box, letter.policy) for letter in letters] == [("jbox-0001", "raw")]
    assert "type conflict" in letters[0].reason and "temp_min_c=1.5" in letters[0].line
    assert abs(letters[0].time - time.time()) < 60
    assert collector.influx.count("telemetry", "soc_pct") == 50
    metrics = requests.get(collector.url + "/metrics", timeout=5).text
    assert "jboxmon_collector_dead_letter_lines_total 1.0" in metrics


def test_spool_and_dead_letter_files_are_private_from_the_start(collector) -> None:
    assert collector.post("/write", data=b"telemetry soc_pct=1.5").status_code == 204
    collector.drain()
    spool_dir = Path(collector.service.config.spool_dir)
    assert stat.S_IMODE(spool_dir.stat().st_mode) == 0o700
    files = list(spool_dir.iterdir())
    assert files and {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}


def test_a_version_1_spool_is_still_delivered_after_the_upgrade(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    (directory / "VERSION").write_text("1")
    records = b""
    for policy, lines in (("", b"m v=1 1"), ("logs", b'log code="x" 2')):
        payload = policy.encode() + b"\n" + lines
        records += struct.pack(">2sII", b"JS", len(payload), zlib.crc32(payload)) + payload
    (directory / f"{1:020d}.seg").write_bytes(records)
    spool = Spool(directory, clock=lambda: time.time() + 5).open()
    assert [(r.retention_policy, r.lines, r.appended_at) for r in spool.read()] == [
        ("", b"m v=1 1", None),
        ("logs", b'log code="x" 2', None),
    ]
    assert 4 <= spool.oldest_age_s() <= 60  # no time in a version 1 record: the segment's mtime stands in
    spool.sync(spool.write(b"m v=2 3"))  # new records are version 2, in the same segment
    assert [r.appended_at is not None for r in spool.read()] == [False, False, True]
    spool.close()
    assert (directory / "VERSION").read_text() == "2"


def test_refused_credentials_stall_delivery_and_dead_letter_nothing(tmp_path: Path) -> None:
    server = InfluxServer(tmp_path / "auth", auth=True).start()
    try:
        admin = InfluxClient(InfluxSettings(url=server.url, database="secure"))
        admin.execute("CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES", database="")
        wrong = InfluxClient(InfluxSettings(url=server.url, database="secure", username="admin", password="nope"))
        tokens = issue_tokens(registry_path(tmp_path), ["jbox-0001"])
        service = IngestService(make_config(tmp_path), wrong, registry=Registry(registry_path(tmp_path)))
        collector = CollectorServer(service).start()
        try:
            assert _post(collector.url, tokens["jbox-0001"], "telemetry soc_pct=1.5").status_code == 204
            assert _wait(lambda: requests.get(collector.url + "/health", timeout=5).status_code == 503, 20)
            health = requests.get(collector.url + "/health", timeout=5).json()
            assert "credentials refused" in health["status"] and health["spool_bytes"] > 0, health
            assert DeadLetterStore(tmp_path / "spool").entries() == []  # kept in the spool, for the fix
        finally:
            collector.stop()
    finally:
        server.stop()


def test_sigkill_during_two_policy_pushes_stores_whole_requests_only(tmp_path: Path) -> None:
    """Each request holds 40 telemetry and 4 log lines (two retention policies): after SIGKILL and
    restart every acknowledged request is stored, and no request is stored in part."""
    influxd = InfluxServer(tmp_path / "influx").start()
    config_path = tmp_path / "jboxmon.yaml"
    config_path.write_text(
        f"influxdb:\n  url: {influxd.url}\n  database: whole\n  timeout: 2s\n"
        f"inventory:\n  path: {tmp_path}/registry.sqlite\ncollector:\n  spool_dir: {tmp_path}/spool\n"
    )
    cli = [sys.executable, "-m", "jboxmon.cli", "--config", str(config_path)]
    issue = [*cli, "tokens", "issue", "jbox-0001", "jbox-0002", "--json"]
    issued = subprocess.run(issue, capture_output=True, text=True, check=True)
    tokens = json.loads(issued.stdout)
    port = free_port()
    process = run_collector(config_path, port)
    acked = {box: 0 for box in tokens}
    stop = threading.Event()

    def push(box: str, token: str) -> None:
        session, sequence, base = requests.Session(), 0, time.time_ns() - 3600 * 10**9
        while not stop.is_set():
            lines = [f"telemetry soc_pct={sequence}.5 {base + sequence * 1000 + i}" for i in range(40)]
            lines += [f'log,level=info code="c",message="{sequence}" {base + sequence * 1000 + i}' for i in range(4)]
            try:
                response = session.post(
                    f"http://127.0.0.1:{port}/write", data="\n".join(lines), headers={"Authorization": f"Token {token}"}
                )
            except requests.RequestException:
                return
            if response.status_code == 204:
                acked[box] += 1
            sequence += 1

    threads = [threading.Thread(target=push, args=item, daemon=True) for item in tokens.items()]
    client = InfluxClient(InfluxSettings(url=influxd.url, database="whole"))
    try:
        for thread in threads:
            thread.start()
        time.sleep(3)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        process = run_collector(config_path, port)
        requests_acked = sum(acked.values())
        assert requests_acked > 20

        def stored() -> tuple[int, int]:
            return client.count("telemetry", "soc_pct"), log_count(client)

        assert _wait(lambda: stored()[0] >= 40 * requests_acked and stored()[1] >= 4 * requests_acked)
        time.sleep(1)
        telemetry, logs = stored()
        assert telemetry == 10 * logs  # whole requests only, in both policies
        # beyond the acknowledged: at most the one request per client in flight at the kill
        assert 40 * requests_acked <= telemetry <= 40 * (requests_acked + len(tokens))
    finally:
        stop.set()
        process.kill()
        process.wait()
        influxd.stop()
        client.close()
