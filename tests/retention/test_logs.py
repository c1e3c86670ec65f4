"""Severity-aware pruning of logs: below error after 24 h, error and above kept longer, all archived."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from retention.restore import RestoreOptions, restore
from retention.runner import RetentionRunner
from storage import InfluxClient
from tests.retention.conftest import NS, fleet_lines, load, retention_config, snapshot


def test_logs_below_error_go_after_24h_errors_stay_everything_pruned_is_archived(
    influx: InfluxClient, store, tmp_path: Path, now
) -> None:
    load(influx, fleet_lines(now, hours=40))
    original = snapshot(influx, "logs", "log")
    levels = {dict(tags)["level"] for tags, _, _ in original}
    assert levels == {"debug", "info", "warning", "error", "critical"}
    RetentionRunner(retention_config(store.settings.url, tmp_path / "state"), influx, store, clock=lambda: now).run()

    remaining = snapshot(influx, "logs", "log")
    cutoff = int((now - 86400) * NS)
    old_low = [row for row in remaining if row[1] < cutoff and dict(row[0])["level"] not in ("error", "critical")]
    assert old_low == []
    errors = {row for row in original if dict(row[0])["level"] in ("error", "critical")}
    assert errors <= remaining
    assert any(row[1] < cutoff for row in errors)  # the test data does hold old error lines

    other = InfluxClient(dataclasses.replace(influx.settings, database=influx.settings.database + "_logs"))
    try:
        other.create_database()
        restore(store, other, RestoreOptions("log", 0, int(now * NS), other.settings.database))
        assert snapshot(other, "logs", "log") == original - remaining
    finally:
        other.execute(f'DROP DATABASE "{other.settings.database}"', database="")
        other.close()
