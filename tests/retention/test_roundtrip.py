"""Archive -> prune -> restore on a real InfluxDB and a local folder gives back exactly the original rows."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from jboxmon.cli import main
from retention.manifest import all_manifests, duplicate_keys
from retention.restore import RestoreOptions, restore
from retention.runner import RetentionRunner
from storage import InfluxClient
from tests.retention.conftest import NS, fleet_lines, load, retention_config, snapshot

POLICIES = [("raw", "telemetry"), ("raw", "heartbeat"), ("logs", "log")]


def test_archive_prune_restore_gives_back_the_original_rows(influx: InfluxClient, store, tmp_path: Path, now) -> None:
    load(influx, fleet_lines(now))
    original = {key: snapshot(influx, *key) for key in POLICIES}
    config = retention_config(store.settings.url, tmp_path / "state")
    report = RetentionRunner(config, influx, store, clock=lambda: now).run()

    assert report.rows_archived > 0 and report.rows_deleted == report.rows_archived
    cutoff = int(now - 86400) * NS
    left = snapshot(influx, "raw", "telemetry")
    assert left and all(t >= cutoff for _, t, _ in left)
    for policy, measurement in POLICIES:
        assert duplicate_keys(store, measurement) == 0
        archived_rows = sum(e.rows for m in all_manifests(store, measurement) for e in m.entries)
        assert archived_rows + len(snapshot(influx, policy, measurement)) == len(original[(policy, measurement)])

    # back into the same database: every row identical (values, types, tags, timestamps)
    for policy, measurement in POLICIES:
        restore(store, influx, RestoreOptions(measurement, 0, int(now * NS)))
        assert snapshot(influx, policy, measurement) == original[(policy, measurement)]


def test_restore_into_another_database(influx: InfluxClient, store, tmp_path: Path, now) -> None:
    load(influx, fleet_lines(now, hours=30))
    before = snapshot(influx, "raw", "telemetry")
    config = retention_config(store.settings.url, tmp_path / "state")
    RetentionRunner(config, influx, store, clock=lambda: now).run()
    remaining = snapshot(influx, "raw", "telemetry")
    other = InfluxClient(dataclasses.replace(influx.settings, database=influx.settings.database + "_bt"))
    try:
        other.create_database()
        report = restore(store, other, RestoreOptions("telemetry", 0, int(now * NS), other.settings.database))
        assert report.rows == len(before) - len(remaining)
        assert snapshot(other, "raw", "telemetry") == before - remaining
    finally:
        other.execute(f'DROP DATABASE "{other.settings.database}"', database="")
        other.close()


def test_a_second_pass_finds_nothing_new_and_files_are_private(influx, store, tmp_path: Path, now) -> None:
    load(influx, fleet_lines(now, hours=28))
    config = retention_config(store.settings.url, tmp_path / "state")
    runner = RetentionRunner(config, influx, store, clock=lambda: now)
    first = runner.run()
    second = runner.run()
    assert first.files > 0 and second.files == 0 and second.rows_deleted == 0
    archive = Path(store.root)
    for path in archive.rglob("*"):
        mode = os.stat(path).st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_dry_run_lists_rows_and_ranges_and_changes_nothing(influx, influx_config, tmp_path: Path, now, capsys) -> None:
    load(influx, fleet_lines(now, hours=30))
    before = snapshot(influx, "raw", "telemetry")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n"
        f"retention:\n  archive: {{url: 'file://{tmp_path}/archive'}}\n  state_dir: {tmp_path}/state\n"
        "  downsample: []\n  usage: {enabled: false}\n"
        "  policies: [{measurement: telemetry, retention_policy: raw, age: 1d}]\n"
    )
    assert main(["--config", str(config), "retention", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    old = sum(1 for _, t, _ in before if t < int((now - 86400) * NS))
    assert f"dry run: {old:,} rows" in out
    row = next(line for line in out.splitlines() if line.startswith("telemetry"))
    assert row.split()[2] == f"{old:,}" and row.split()[3] != "?"  # bytes estimated from one hour
    assert snapshot(influx, "raw", "telemetry") == before
    assert not (tmp_path / "archive" / "telemetry").exists()


def test_cli_run_then_restore_into_a_backtest_database(influx, influx_config, tmp_path: Path, now, capsys) -> None:
    load(influx, fleet_lines(now, hours=28))
    before = snapshot(influx, "logs", "log")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n"
        f"retention:\n  archive: {{url: 'file://{tmp_path}/archive'}}\n  state_dir: {tmp_path}/state\n"
    )
    assert main(["--config", str(config), "retention", "run", "--no-progress"]) == 0
    assert "rows deleted" in capsys.readouterr().out
    remaining = snapshot(influx, "logs", "log")
    target = influx_config.database + "_cli"
    span = ["--from", "now-3d", "--to", "now"]
    code = main(["--config", str(config), "retention", "restore", "--measurement", "log", *span, "--database", target])
    assert code == 0
    assert "rows of log from" in capsys.readouterr().out
    other = InfluxClient(dataclasses.replace(influx.settings, database=target))
    try:
        assert snapshot(other, "logs", "log") == before - remaining
    finally:
        other.execute(f'DROP DATABASE "{target}"', database="")
        other.close()
