"""The dead-letter store keeps only refused lines, each with reason, box and time; bounded; private;
and ``jboxmon deadletter list|replay|purge`` inspects it and re-sends after a fix."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from collector.deadletter import DeadLetterStore, box_of, isolate_refused
from jboxmon.cli import main
from storage import InfluxClient, InfluxError


def _write(client: InfluxClient, policy: str = ""):
    return lambda body: client.write(body, retention_policy=policy or None)


def test_only_the_refused_lines_of_a_batch_are_isolated(influx: InfluxClient) -> None:
    now = time.time_ns()
    influx.write([f"telemetry,jbox_id=jbox-0009 soc_pct=1.5 {now}"])  # soc_pct is a float from now on
    lines = [f"telemetry,jbox_id=jbox-{i:04d} soc_pct={i}.5 {now + i}".encode() for i in range(1, 40)]
    lines[7] = f"telemetry,jbox_id=jbox-0666 soc_pct=1i {now}".encode()  # a type conflict
    lines[30] = f"telemetry,jbox_id=jbox-0777 soc_pct=true {now}".encode()
    refused = isolate_refused(_write(influx), lines)
    assert [line for line, _ in refused] == [lines[7], lines[30]]
    assert all("type conflict" in str(error) for _, error in refused)
    assert influx.count("telemetry", "soc_pct") == 1 + 37  # the good lines all landed, once


def test_an_outage_is_not_a_refusal() -> None:
    def down(body: bytes) -> None:
        raise InfluxError("connection refused", retryable=True)

    with pytest.raises(InfluxError):
        isolate_refused(down, [b"a", b"b"])


def test_the_box_is_read_from_the_registry_tag_of_the_line() -> None:
    assert box_of(b"telemetry,jbox_id=jbox-0001,region=IDF soc_pct=1 1") == "jbox-0001"
    assert box_of(b'log,level=info,jbox_id=jbox-0002 code="x" 1') == "jbox-0002"
    assert box_of(b"telemetry soc_pct=1 1") == ""
    assert box_of(b'log,jbox_id=a message="x,jbox_id=b" 1') == "a"


def test_store_is_bounded_private_and_keeps_the_newest(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "spool", max_bytes=20_000)
    error = InfluxError("partial write: field type conflict", retryable=False, status=400)
    for batch in range(100):
        store.add([(f"telemetry,jbox_id=jbox-{batch:04d} soc_pct=1i {i}".encode(), error) for i in range(3)], "raw")
    assert store.size_bytes() <= 20_000
    letters = store.entries()
    assert letters[-1].box == "jbox-0099" and len(letters) < 300
    assert all(letter.reason.endswith("type conflict") and letter.policy == "raw" for letter in letters)
    for path in (tmp_path / "spool").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700


def _config(tmp_path: Path, influx: InfluxClient) -> Path:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        f"influxdb:\n  url: {influx.settings.url}\n  database: {influx.settings.database}\n"
        f"collector:\n  spool_dir: {tmp_path / 'spool'}\n"
    )
    return path


def test_list_replay_purge(tmp_path: Path, influx: InfluxClient, capsys) -> None:
    now = time.time_ns()
    influx.write([f"telemetry,jbox_id=seed soc_pct=1i {now}"])  # someone made soc_pct an integer
    lines = [f"telemetry,jbox_id=jbox-000{i} soc_pct={i}.5 {now + i}".encode() for i in (1, 2, 3)]
    store = DeadLetterStore(tmp_path / "spool")
    store.add(isolate_refused(_write(influx), lines), "raw")
    config = _config(tmp_path, influx)

    assert main(["--config", str(config), "deadletter", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["box"] for entry in listed] == ["jbox-0001", "jbox-0002", "jbox-0003"]
    assert all("type conflict" in entry["reason"] and entry["time"] > 0 for entry in listed)

    assert main(["--config", str(config), "deadletter", "replay"]) == 1  # not fixed yet: all still refused
    assert len(store.entries()) == 3

    influx.execute("DROP MEASUREMENT telemetry")  # the fix
    assert main(["--config", str(config), "deadletter", "replay", "--box", "jbox-0002"]) == 0
    assert [letter.box for letter in store.entries()] == ["jbox-0001", "jbox-0003"]
    assert influx.count("telemetry", "soc_pct") == 1

    assert main(["--config", str(config), "deadletter", "purge", "--box", "jbox-0001"]) == 0
    assert [letter.box for letter in store.entries()] == ["jbox-0003"]
    assert main(["--config", str(config), "deadletter", "purge"]) == 0
    assert store.entries() == []
