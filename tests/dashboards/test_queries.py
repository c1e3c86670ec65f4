"""Every query of the generated dashboard runs against a real InfluxDB holding a simulated hour:
panel targets, template variables and annotations, with Grafana's macros substituted as Grafana
renders them for InfluxDB (tests/dashboards/grafana.py). No InfluxQL error, no panel showing "No
data" on data that has what it shows (math joined on exact timestamps, as Grafana's expressions do),
and the key panels show what the data holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from config import JboxmonConfig
from config.retention import UsageConfig
from dashboards import fleet
from dashboards.build import BuildOptions, documents
from dashboards.panels import Math, Query
from retention.checkpoint import Checkpoints
from retention.usage import UsageRollup
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient
from storage.lineprotocol import encode_point
from tests.dashboards import grafana

BOXES = 30
INTERVAL = "1m"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("grafana")
    return json.loads(documents(JboxmonConfig(), BuildOptions(out=Path(out)))["dashboards/jboxmon-fleet.json"])


@pytest.fixture
def loaded(influx: InfluxClient, influx_settings, tmp_path_factory: pytest.TempPathFactory):
    """An hour of a 30-box fleet (faults included) up to now, and a few alert transitions.

    The window starts on a whole minute (the alert checks count minutes from it) and reaches a
    minute past now, so the panels about "now" have data."""
    start_ms = int(datetime.now(UTC).timestamp()) // 60 * 60_000 - 59 * 60_000
    window = SimWindow(start_ms, 3600, 10)
    scenario = build_scenario(boxes=BOXES, seed=11, window=window, fault_rate=0.2)
    run_backfill(scenario, lambda: InfluxClient(influx_settings))
    minute = 60_000_000_000
    start = window.start_ms * 1_000_000
    ids = scenario.fleet.ids
    # the shape rules/sinks.py writes: tags alertname, jbox_id (absent for fleet alerts), state, severity
    transitions = [
        ("JBoxSilent", ids[3], "firing", -2 * 24 * 60),  # two days before the range, still firing
        ("OverheatCritical", ids[0], "pending", 5),
        ("OverheatCritical", ids[0], "firing", 6),
        ("SetpointNotFollowed", ids[1], "firing", 10),
        ("SetpointNotFollowed", ids[2], "firing", 20),  # a second box: series of one rule must add up
        ("OverheatCritical", ids[0], "resolved", 30),
        ("FleetFaultShareHigh", "", "firing", 12),
    ]
    lines = [
        encode_point(
            "alerts",
            {"alertname": name, "jbox_id": box, "state": state, "severity": "critical"},
            {"value": 1.0, "group": "g"},
            start + at * minute,
        )
        for name, box, state, at in transitions
    ]
    influx.write([line for line in lines if line])
    # the retention service's hourly roll-up, as its pass writes it: the complete hours of the window
    state = tmp_path_factory.mktemp("retention")
    UsageRollup(influx, UsageConfig(), Checkpoints(state).load(), 0, clock=lambda: window.end_ms / 1000).run()
    return scenario, window


def when(scenario, window: SimWindow) -> grafana.Range:
    """The simulated hour as the dashboard's range, every region and box picked (Grafana's "All")."""
    regions = sorted(set(scenario.fleet.regions))
    return grafana.Range(window.start_ms, window.end_ms, {"region": regions, "box": list(scenario.fleet.ids)})


def render(query: str, scenario, window: SimWindow, panel: dict | None = None) -> str:
    """The query as Grafana sends it: time filter, intervals, multi-value variables as regex groups."""
    return grafana.expand(query, panel or {"interval": INTERVAL}, when(scenario, window))


def queries(board: dict) -> list[tuple[str, str, dict | None]]:
    found = [(f"{p['title']} {t['refId']}", t["query"], p) for p in board["panels"] for t in p["targets"]
             if "query" in t]  # fmt: skip
    found += [(f"variable {v['name']}", v["query"], None) for v in board["templating"]["list"]]
    found += [(f"annotation {a['name']}", a["query"], None) for a in board["annotations"]["list"]]
    return found


def test_every_query_runs(board, influx: InfluxClient, loaded) -> None:
    scenario, window = loaded
    checked = queries(board)
    assert len(checked) >= 12
    empty = []
    for name, query, panel in checked:
        frame = influx.query(render(query, scenario, window, panel))  # raises on any InfluxQL error
        if frame.empty:
            empty.append(name)
    assert empty == [], f"queries with no rows on a loaded database: {empty}"


def _run(board: dict, title: str, ref: str, influx: InfluxClient, loaded) -> pd.DataFrame:
    panel = next(p for p in board["panels"] if p["title"] == title)
    target = next(t for t in panel["targets"] if t["refId"] == ref)
    return influx.query(render(target["query"], *loaded, panel))


def test_boxes_reporting_counts_the_talking_boxes(board, influx, loaded) -> None:
    scenario, _ = loaded
    frame = _run(board, "Boxes reporting", "A", influx, loaded)
    silent = {e.jbox_id for e in scenario.plan.events if e.kind == "silent"}
    assert BOXES - len(silent) <= frame["count"].max() <= BOXES
    heartbeats = _run(board, "Boxes reporting", "B", influx, loaded)
    assert heartbeats["count"].sum() > 0.8 * BOXES  # one heartbeat per box and hour, but for the silent


def test_boxes_reporting_now(board, influx, loaded) -> None:
    scenario, _ = loaded
    frame = _run(board, "Boxes reporting now", "A", influx, loaded)
    silent = {e.jbox_id for e in scenario.plan.events if e.kind == "silent"}
    assert len(frame) == 1 and BOXES - len(silent) <= frame["count"].iloc[0] <= BOXES
    assert _run(board, "Faulty share now", "B", influx, loaded)["count"].iloc[0] >= BOXES - len(silent)


def test_open_alerts_follow_the_transitions(influx, loaded) -> None:
    frame = influx.query(render(fleet.open_alerts(), *loaded))
    series = frame.set_index("time")["cumulative_sum"]
    start = pd.Timestamp(loaded[1].start_ms, unit="ms", tz="UTC")
    minute = pd.Timedelta(minutes=1)
    assert series[start + 2 * minute] == 1  # JBoxSilent, firing since before the range
    assert series[start + 7 * minute] == 2  # OverheatCritical firing; pending does not count
    assert series[start + 15 * minute] == 3  # and SetpointNotFollowed; the fleet alert is no box
    assert series[start + 25 * minute] == 4  # SetpointNotFollowed on a second box
    assert series[start + 45 * minute] == 3  # OverheatCritical resolved


def test_alerts_by_rule(board, influx, loaded) -> None:
    frame = _run(board, "Alerts firing by rule", "A", influx, loaded)
    last = frame.groupby("alertname")["cumulative_sum"].last().to_dict()
    assert last == {"JBoxSilent": 1, "OverheatCritical": 0, "SetpointNotFollowed": 2}


def test_box_panels_show_every_box(board, influx, loaded) -> None:
    for title in ("Power vs setpoint", "State of charge", "Hottest cell"):
        frame = _run(board, title, "A", influx, loaded)
        assert frame["jbox_id"].nunique() == BOXES, title
    logs = _run(board, "Log lines per minute by level", "A", influx, loaded)
    assert set(logs["level"]) <= {"debug", "info", "warning", "error", "critical"} and len(set(logs["level"])) >= 2


def _panel(board: dict, title: str) -> dict:
    return next(p for p in board["panels"] if p["title"] == title)


def test_no_panel_shows_no_data(board, influx, loaded) -> None:
    """What Grafana draws, panel by panel: hidden targets feed the math, the rest is shown."""
    empty = [p["title"] for p in board["panels"] if grafana.shows_no_data(grafana.panel_data(influx, p, when(*loaded)))]
    assert empty == []


def test_the_check_sees_a_panel_grafana_would_leave_empty(influx, loaded) -> None:
    """The old "Faulty share now": series on time buckets divided by one point at time 0 (1970).
    Every query has rows, yet Grafana's math joins on exact timestamps and finds none in common."""
    old = {
        "title": "old faulty share now",
        "interval": "1m",
        "targets": [
            Query("A", fleet.open_alerts(), hide=True).json(),
            Query("B", fleet.boxes_reporting_now(where=""), hide=True).json(),
            Math("C", "$A / $B").json(),
        ],
    }
    each = [grafana.run_target(influx, t, old, when(*loaded)) for t in old["targets"][:2]]
    assert all(not grafana.shows_no_data([frame]) for frame in each)  # both sides have numbers...
    assert grafana.shows_no_data(grafana.panel_data(influx, old, when(*loaded)))  # ...at no common instant


def test_faulty_share_now_is_open_box_alerts_over_reporting_boxes(board, influx, loaded) -> None:
    scenario, _ = loaded
    shown = grafana.stat_value(grafana.panel_data(influx, _panel(board, "Faulty share now"), when(*loaded)))
    reporting = grafana.stat_value([grafana.run_target(influx, _panel(board, "Faulty share now")["targets"][1],
                                                       {}, when(*loaded))])  # fmt: skip
    # open box alerts: JBoxSilent (since two days), SetpointNotFollowed on two boxes; OverheatCritical resolved
    assert reporting and shown == pytest.approx(3 / reporting)


def test_faulty_share_reads_the_hourly_rollup(board, influx, loaded) -> None:
    panel = _panel(board, "Faulty share")
    assert '"ds_1h"."usage"' in panel["targets"][0]["query"] and '"alerts"' not in panel["targets"][0]["query"]
    (frame,) = grafana.panel_data(influx, panel, when(*loaded))
    rollup = influx.query('SELECT sum("faulty_boxes") AS f, sum("boxes_expected") AS e FROM "ds_1h"."usage" '
                          "GROUP BY time(1h) fill(none)")  # fmt: skip
    rows = zip(rollup["time"], rollup["f"], rollup["e"], strict=True)
    expected = {int(t.value // 1_000_000): f / e for t, f, e in rows}
    shown = {t: v for series in frame for t, v in series.points.items() if v is not None}
    assert shown and shown == pytest.approx({t: expected[t] for t in shown})


def test_versions_in_use_count_boxes_per_firmware_and_payload(board, influx, loaded) -> None:
    scenario, _ = loaded
    (table,) = grafana.panel_data(influx, _panel(board, "Firmware and payload versions in use"), when(*loaded))
    fleet_ = scenario.fleet
    assert list(table.columns) == ["firmware", "payload", "jbox_id (count)"]
    counted = {(row["firmware"], int(row["payload"])): row["jbox_id (count)"] for row in table.to_dict("records")}
    silent = {e.jbox_id for e in scenario.plan.events if e.kind == "silent"}
    assert set(counted) <= {(fw, int(v)) for fw, v in zip(fleet_.fw_version, fleet_.payload_version, strict=True)}
    assert len(counted) >= 2 and BOXES - len(silent) <= sum(counted.values()) <= BOXES


def test_fleet_soc_spread(board, influx, loaded) -> None:
    (frame,) = grafana.panel_data(influx, _panel(board, "Fleet state of charge around 50 %"), when(*loaded))
    by_name = {s.name.split()[1]: s.values() for s in frame}
    assert set(by_name) == {"p10", "median", "p90"} and all(by_name.values())
    assert min(by_name["p10"]) >= 0 and max(by_name["p90"]) <= 100
    assert sum(by_name["p10"]) <= sum(by_name["median"]) <= sum(by_name["p90"])
