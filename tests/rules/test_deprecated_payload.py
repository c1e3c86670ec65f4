"""The shipped ``PayloadDeprecated`` rule (``deprecated_payload``) against a real InfluxDB: it fires
per box from the UTC date a payload version is deprecated (collector.payload_versions), not before,
with the sunset date in its annotations; a version without dates never fires."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from config.collector import PayloadVersionPolicy
from inventory import Box
from rules.engine import RuleEngine
from rules.loader import load_rules
from storage.lineprotocol import encode_point

S = 1_000_000_000
MIN = 60 * S
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules" / "default" / "jbox.yaml"


def midnight_today() -> int:
    today = dt.datetime.now(dt.UTC).date()
    return int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp()) * S


@pytest.fixture
def engine_for(influx):
    groups = [g for g in load_rules([DEFAULT_RULES]) if g.name == "lifecycle"]
    midnight = midnight_today()
    heartbeats = [  # two boxes with hourly heartbeats across midnight: one on v1, one on v2
        encode_point(
            "heartbeat", {"jbox_id": box}, {"payload_version": version, "uptime_s": 1}, midnight + k * 60 * MIN
        )
        for box, version in (("jbox-0001", 1), ("jbox-0002", 2))
        for k in (-2, -1, 0)
    ]
    influx.write(heartbeats)

    def make(policies: dict[str, PayloadVersionPolicy]) -> tuple[RuleEngine, object, int]:
        boxes = [Box("jbox-0001", site="s1"), Box("jbox-0002", site="s1")]
        engine = RuleEngine(groups, influx.query, lambda: boxes, payload_versions=policies)
        return engine, groups[0], midnight

    return make


def firing(engine: RuleEngine, group, at: int) -> list:
    return [a for a in engine.evaluate(group, [at]).alerts if a.status == "firing"]


def test_fires_from_the_deprecation_date_with_the_sunset_in_its_annotations(engine_for) -> None:
    today = dt.datetime.now(dt.UTC).date()
    sunset = today + dt.timedelta(days=90)
    engine, group, midnight = engine_for({"v1": PayloadVersionPolicy(deprecated_since=today, sunset=sunset)})
    assert firing(engine, group, midnight - 20 * MIN) == []  # yesterday: not deprecated yet
    [alert] = firing(engine, group, midnight + 10 * MIN)
    assert alert.name == "PayloadDeprecated" and alert.labels["jbox_id"] == "jbox-0001"
    assert alert.labels["severity"] == "info" and alert.value == 1
    assert alert.annotations == {
        "summary": f"jbox-0001 still sends payload v1, deprecated since {today}: "
        f"the collector refuses it from {sunset}",
        "sunset": str(sunset),
    }


def test_without_a_sunset_the_summary_says_only_since_when(engine_for) -> None:
    engine, group, midnight = engine_for({"v1": PayloadVersionPolicy(deprecated_since=dt.date(2024, 1, 1))})
    [alert] = firing(engine, group, midnight + 10 * MIN)
    assert alert.annotations == {
        "summary": "jbox-0001 still sends payload v1, deprecated since 2024-01-01",
        "sunset": "none",
    }


@pytest.mark.parametrize("policies", [{}, {"v1": PayloadVersionPolicy()}, {"v2": PayloadVersionPolicy()}])
def test_no_deprecation_date_no_alert(engine_for, policies) -> None:
    engine, group, midnight = engine_for(policies)
    assert firing(engine, group, midnight + 10 * MIN) == []


def test_deprecating_v2_reports_the_v2_box(engine_for) -> None:
    engine, group, midnight = engine_for({"v2": PayloadVersionPolicy(deprecated_since=dt.date(2024, 1, 1))})
    assert [a.labels["jbox_id"] for a in firing(engine, group, midnight + 10 * MIN)] == ["jbox-0002"]
