"""Every query of the generated dashboard runs against a real InfluxDB holding a simulated hour:
panel targets, template variables and annotations, with Grafana's macros substituted as Grafana
renders them for InfluxDB. No InfluxQL error, and the key panels show what the data holds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from config import JboxmonConfig
from dashboards.build import BuildOptions, documents
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient
from storage.lineprotocol import encode_point

BOXES = 30
INTERVAL = "1m"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("grafana")
    return json.loads(documents(JboxmonConfig(), BuildOptions(out=Path(out)))["dashboards/jboxmon-fleet.json"])


@pytest.fixture
def loaded(influx: InfluxClient, influx_settings):
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
    return scenario, window


def render(query: str, scenario, window: SimWindow) -> str:
    """The query as Grafana sends it: time filter, intervals, multi-value variables as regex groups."""
    regions = sorted(set(scenario.fleet.regions))
    values = {
        "$timeFilter": f"time >= {window.start_ms}ms and time <= {window.end_ms}ms",
        "${__from}": str(window.start_ms),
        "${__to}": str(window.end_ms),
        "$__interval_ms": "60000",
        "$__interval": INTERVAL,
        "$region": "(" + "|".join(re.escape(r) for r in regions) + ")",
        "$box": "(" + "|".join(re.escape(b) for b in scenario.fleet.ids) + ")",
    }
    for macro, value in values.items():  # longest first: $__interval_ms before $__interval
        query = query.replace(macro, value)
    assert "$" not in query.replace("$/", ""), query
    return query


def queries(board: dict) -> list[tuple[str, str]]:
    found = [(f"{p['title']} {t['refId']}", t["query"]) for p in board["panels"] for t in p["targets"] if "query" in t]
    found += [(f"variable {v['name']}", v["query"]) for v in board["templating"]["list"]]
    found += [(f"annotation {a['name']}", a["query"]) for a in board["annotations"]["list"]]
    return found


def test_every_query_runs(board, influx: InfluxClient, loaded) -> None:
    scenario, window = loaded
    checked = queries(board)
    assert len(checked) >= 12
    empty = []
    for name, query in checked:
        frame = influx.query(render(query, scenario, window))  # raises on any InfluxQL error
        if frame.empty:
            empty.append(name)
    assert empty == [], f"queries with no rows on a loaded database: {empty}"


def _run(board: dict, title: str, ref: str, influx: InfluxClient, loaded) -> pd.DataFrame:
    panel = next(p for p in board["panels"] if p["title"] == title)
    target = next(t for t in panel["targets"] if t["refId"] == ref)
    return influx.query(render(target["query"], *loaded))


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


def test_open_alerts_follow_the_transitions(board, influx, loaded) -> None:
    frame = _run(board, "Faulty share", "A", influx, loaded)
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
