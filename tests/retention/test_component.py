"""The retention pass scheduled inside ``jboxmon run``: it runs, archives and records its metrics."""

from __future__ import annotations

import time
from pathlib import Path

from config import JboxmonConfig
from jboxmon.retention_component import RetentionComponent
from jboxmon.services import ALL
from tests.retention.conftest import fleet_lines, load


def test_jboxmon_run_schedules_a_retention_pass(influx, influx_config, tmp_path: Path, now) -> None:
    assert "retention" in ALL
    load(influx, fleet_lines(now, hours=27))
    config = JboxmonConfig.model_validate(
        {
            "influxdb": influx_config.model_dump(),
            "inventory": {"path": str(tmp_path / "registry.sqlite")},
            "retention": {
                "archive": {"url": f"file://{tmp_path}/archive"},
                "state_dir": str(tmp_path / "state"),
                "policies": [{"measurement": "telemetry", "retention_policy": "raw", "age": "1d"}],
            },
        }
    )
    component = RetentionComponent(config, influx, first_delay_s=0.1).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not component.metrics.last_success._value.get():
            time.sleep(0.2)
    finally:
        component.stop()
        component.stop()  # idempotent
    registry = component.metrics.registry
    assert registry.get_sample_value("jboxmon_retention_last_success_timestamp_seconds") > 0
    archived = registry.get_sample_value("jboxmon_retention_rows_archived_total", {"measurement": "telemetry"})
    deleted = registry.get_sample_value("jboxmon_retention_rows_deleted_total", {"measurement": "telemetry"})
    assert archived and archived == deleted
    assert registry.get_sample_value("jboxmon_retention_points_downsampled_total", {"tier": "1m"}) > 0
    recorded = influx.query('SELECT * FROM "ds_1h"."retention_pass"')
    assert recorded["rows_archived"].iloc[0] == archived
