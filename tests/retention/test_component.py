"""The retention pass scheduled inside ``jboxmon run``: a child process per pass, metrics and health."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from config import JboxmonConfig
from jboxmon.retention_component import RetentionComponent
from jboxmon.services import ALL
from storage.server import free_port
from tests.retention.conftest import fleet_lines, load


def test_jboxmon_run_schedules_a_retention_pass(influx, influx_config, tmp_path: Path, now, operator_headers) -> None:
    assert "retention" in ALL
    load(influx, fleet_lines(now, hours=27))
    port = free_port()
    config = JboxmonConfig.model_validate(
        {
            "influxdb": influx_config.model_dump(),
            "inventory": {"path": str(tmp_path / "registry.sqlite")},
            "retention": {
                "listen": f"127.0.0.1:{port}",
                "archive": {"url": f"file://{tmp_path}/archive"},
                "state_dir": str(tmp_path / "state"),
                "policies": [{"measurement": "telemetry", "retention_policy": "raw", "age": "1d"}],
            },
        }
    )
    admin = operator_headers(config.inventory.path)
    component = RetentionComponent(config, influx, first_delay_s=0.1).start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and component.last_pass is None and component.last_error is None:
            time.sleep(0.2)
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 401
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", headers=admin, timeout=5).text
    finally:
        component.stop()
        component.stop()  # idempotent
    assert component.last_error is None and health.status_code == 200
    assert health.json()["last_pass"]["rows_archived"] > 0
    registry = component.metrics.registry
    assert registry.get_sample_value("jboxmon_retention_last_success_timestamp_seconds") > 0
    archived = registry.get_sample_value("jboxmon_retention_rows_archived_total", {"measurement": "telemetry"})
    deleted = registry.get_sample_value("jboxmon_retention_rows_deleted_total", {"measurement": "telemetry"})
    assert archived and archived == deleted
    assert registry.get_sample_value("jboxmon_retention_points_downsampled_total", {"tier": "1m"}) > 0
    assert f'jboxmon_retention_rows_archived_total{{measurement="telemetry"}} {archived}' in metrics
    recorded = influx.query('SELECT * FROM "ds_1h"."retention_pass"')
    assert recorded["rows_archived"].iloc[0] == archived


def test_a_failed_pass_shows_on_health(influx_config, tmp_path: Path) -> None:
    port = free_port()
    config = JboxmonConfig.model_validate(
        {
            "influxdb": {"url": "http://127.0.0.1:1", "database": "nowhere", "timeout": "1s"},
            "inventory": {"path": str(tmp_path / "registry.sqlite")},
            "retention": {
                "listen": f"127.0.0.1:{port}",
                "archive": {"url": f"file://{tmp_path}/a"},
                "state_dir": str(tmp_path / "state"),
            },
        }
    )
    component = RetentionComponent(config, None, first_delay_s=3600).start()
    try:
        component.run_once()
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        component.stop()
    assert health.status_code == 503 and "InfluxError" in health.json()["last_error"]
    assert component.metrics.registry.get_sample_value("jboxmon_retention_pass_failures_total") == 1
