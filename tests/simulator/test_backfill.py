"""Backfill into a real InfluxDB: what the report says was written is what InfluxQL counts back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import yaml

from jboxmon.cli import main
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient, quote_literal


@pytest.fixture
def recent_window() -> SimWindow:
    # The logs retention policy keeps one day: the window must be recent, so it ends at this hour.
    return SimWindow.ending_at_hour(datetime.now(UTC), 1800, 10)


def _counts(influx: InfluxClient, where: str = "") -> dict[str, int]:
    clause = f" WHERE {where}" if where else ""

    def count(query: str) -> int:
        frame = influx.query(query + clause)
        return 0 if frame.empty else int(frame["count"].sum())

    return {
        "telemetry": count('SELECT count("p_meas_kw") FROM "telemetry"'),
        "heartbeat": count('SELECT count("uptime_s") FROM "heartbeat"'),
        "log": count('SELECT count("code") FROM "logs"."log"'),
    }


def test_backfill_counts_match_influxql(influx, influx_settings, recent_window):
    scenario = build_scenario(boxes=50, seed=3, window=recent_window, fault_rate=0.2)
    report = run_backfill(scenario, lambda: InfluxClient(influx_settings), batch_size=2000)
    assert report.points["telemetry"] > 0.8 * 50 * 180
    assert report.points["heartbeat"] > 0 and report.points["log"] > 0
    assert _counts(influx) == report.points
    assert report.total == sum(report.points.values())
    # Every telemetry field is on every point.
    for field in ("p_setpoint_kw", "grid_freq_hz", "soc_pct", "temp_max_c"):
        frame = influx.query(f'SELECT count("{field}") FROM "telemetry"')
        assert int(frame["count"].sum()) == report.points["telemetry"]
    tags = influx.query('SHOW TAG KEYS FROM "telemetry"')
    assert set(tags["tagKey"]) == {"jbox_id", "site", "region", "service"}


def test_silent_boxes_send_nothing_during_their_fault(influx, influx_settings, recent_window):
    scenario = build_scenario(boxes=50, seed=5, window=recent_window, fault_rate=0.3)
    run_backfill(scenario, lambda: InfluxClient(influx_settings))
    silent = [e for e in scenario.plan.events if e.kind == "silent"]
    assert silent
    for event in silent:
        box = f'"jbox_id" = {quote_literal(event.jbox_id)}'
        during = f"{box} AND time >= {event.start_ms}ms AND time < {event.end_ms}ms"
        assert _counts(influx, during) == {"telemetry": 0, "heartbeat": 0, "log": 0}
        before = f"{box} AND time < {event.start_ms}ms"
        assert _counts(influx, before)["telemetry"] == (event.start_ms - scenario.window.start_ms) // 10_000


def test_cli_backfill_reports_what_it_wrote(influx, influx_config, tmp_path, capsys):
    config = tmp_path / "jboxmon.yaml"
    config.write_text(yaml.safe_dump({"influxdb": {"url": influx_config.url, "database": influx_config.database}}))
    truth = tmp_path / "truth.jsonl"
    code = main(
        [
            "--config",
            str(config),
            "simulate",
            "--boxes",
            "40",
            "--backfill",
            "30m",
            "--seed",
            "9",
            "--truth",
            str(truth),
            "--fault-rate",
            "0.1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    reported = {
        name: int(n.replace(",", "")) for name, n in re.findall(r"^\s+(telemetry|heartbeat|log)\s+([\d,]+)", out, re.M)
    }
    assert _counts(influx) == reported
    total = int(re.search(r"total\s+([\d,]+) points", out).group(1).replace(",", ""))
    assert total == sum(reported.values())
    assert "points/s" in out and str(truth) in out
    assert sum('"should_alert": true' in line for line in truth.read_text().splitlines()) == 4


def test_cli_refuses_a_window_older_than_retention(tmp_path, capsys):
    config = tmp_path / "jboxmon.yaml"
    # logs kept 1 day by InfluxDB: jboxmon must then archive every log line younger than that
    logs_policy = {"measurement": "log", "retention_policy": "logs", "age": "12h"}
    config.write_text(
        yaml.safe_dump(
            {
                "influxdb": {"url": "http://127.0.0.1:9", "retention": {"logs": "1d"}},
                "retention": {"policies": [logs_policy]},
            }
        )
    )
    code = main(
        [
            "--config",
            str(config),
            "simulate",
            "--backfill",
            "2h",
            "--start",
            "2020-01-01T00:00:00Z",
            "--truth",
            str(tmp_path / "t.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "2020-01-01T00:00:00Z" in err and "influxdb.retention.raw" in err
    assert not (tmp_path / "t.jsonl").exists()
