"""A restore into the live database is known to the archive: the next passes hold the restored rows
for their age, then delete them without archiving them a second time; a row written since is
archived once. Without ``--live`` the command refuses and says what would happen."""

from __future__ import annotations

from pathlib import Path

from jboxmon.cli import main
from retention.manifest import all_manifests, day_of, duplicate_keys, hour_dir
from retention.restore import RestoreOptions, restore
from retention.restores import load as load_restores
from retention.runner import RetentionRunner
from storage import InfluxClient
from storage.lineprotocol import encode_point
from tests.retention.conftest import NS, fleet_lines, load, retention_config, snapshot

DAY = 86400


def files(store, measurement: str) -> list[str]:
    return sorted(e.path for m in all_manifests(store, measurement) for e in m.entries)


def test_restored_rows_are_held_then_pruned_without_a_second_file(
    influx: InfluxClient, store, tmp_path: Path, now
) -> None:
    load(influx, fleet_lines(now, hours=30, boxes=3))
    original = snapshot(influx, "raw", "telemetry")
    config = retention_config(store.settings.url, tmp_path / "state")
    first = RetentionRunner(config, influx, store, clock=lambda: now).run()
    archived_files = files(store, "telemetry")
    assert first.rows_archived > 0 and archived_files

    report = restore(store, influx, RestoreOptions("telemetry", 0, int(now * NS), live=True))
    assert report.rows == first.by_measurement["telemetry"]["rows_archived"]
    assert [r.measurement for r in load_restores(store)] == ["telemetry"]
    assert snapshot(influx, "raw", "telemetry") == original

    # held: the same pass an hour later archives nothing again and deletes nothing of it
    later = RetentionRunner(config, influx, store, clock=lambda: now + 3600).run()
    assert files(store, "telemetry") == archived_files
    assert later.by_measurement.get("telemetry", {}).get("rows_deleted", 0) == 0
    assert snapshot(influx, "raw", "telemetry") == original

    # a late row in a restored hour: archived once, in a file of its own
    oldest = min(t for _, t, _ in original)
    late = encode_point(
        "telemetry",
        {"jbox_id": "jbox-0000", "site": "site-0", "region": "IDF", "service": "fcr"},
        {"p_meas_kw": 1.5},
        oldest + 7,
    )
    influx.write([late], retention_policy="raw")

    # aged out again (the age counted from the restore): deleted, the restored rows without a new file
    aged = RetentionRunner(config, influx, store, clock=lambda: now + DAY + 7200).run()
    new_files = [p for p in files(store, "telemetry") if p not in archived_files]
    late_hour = f"date={day_of(oldest)}/{hour_dir(oldest)}/"
    assert aged.by_measurement["telemetry"]["rows_deleted"] >= first.by_measurement["telemetry"]["rows_archived"]
    assert [p for p in new_files if late_hour in p], new_files
    late_entry = next(
        e for m in all_manifests(store, "telemetry") for e in m.entries if e.path in new_files and late_hour in e.path
    )
    assert late_entry.rows == 1
    assert duplicate_keys(store, "telemetry") == 0
    archived_rows = sum(e.rows for m in all_manifests(store, "telemetry") for e in m.entries)
    assert archived_rows + len(snapshot(influx, "raw", "telemetry")) == len(original) + 1


def test_restore_into_the_live_database_needs_live(influx, influx_config, store, tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"influxdb: {{url: '{influx_config.url}', database: {influx_config.database}}}\n"
        f"retention: {{archive: {{url: '{store.settings.url}'}}, state_dir: {tmp_path}/state}}\n"
    )
    span = ["--measurement", "telemetry", "--from", "2026-11-01", "--to", "2026-11-02"]
    assert main(["--config", str(config), "retention", "restore", *span]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jboxmon retention restore: restoring into the live database")
    assert "held for 5d" in err and "--live" in err and "--database NAME" in err
    assert main(["--config", str(config), "retention", "restore", *span, "--live"]) == 0
    out = capsys.readouterr()
    assert "held for 5d" in out.err and "restored 0 rows of telemetry" in out.out
