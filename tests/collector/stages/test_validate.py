"""Stage: validate decoded points against the schema, refusing points alone and foreign boxes whole."""

from __future__ import annotations

import pytest

from collector.model import Decoded, LineError, Point
from collector.validate import ForbiddenError, Validator
from config.collector import default_schema
from inventory import Box

NOW_NS = 1_764_430_000 * 10**9
BOX = Box("jbox-0001", "site-1", "IDF", "fcr")


def validator() -> Validator:
    return Validator(default_schema(), max_future_s=300, max_age_s=86400)


def decoded(*points: Point, errors: list[LineError] | None = None) -> Decoded:
    return Decoded(points=list(enumerate(points, start=1)), errors=errors or [])


def test_good_points_are_encoded_with_the_inventory_tags_by_retention_policy() -> None:
    accepted = validator().check(
        BOX,
        decoded(
            Point("telemetry", {"region": "elsewhere"}, {"soc_pct": 51}, NOW_NS),
            Point("log", {"level": "error"}, {"code": "E042"}, None),
        ),
        NOW_NS,
    )
    assert accepted.count == 2 and accepted.errors == []
    # the inventory wins over what the box claims; integers become floats where the schema says float
    assert accepted.lines_by_policy["raw"] == [
        f"telemetry,jbox_id=jbox-0001,region=IDF,service=fcr,site=site-1 soc_pct=51.0 {NOW_NS}"
    ]
    assert accepted.lines_by_policy["logs"] == [
        f'log,jbox_id=jbox-0001,level=error,region=IDF,service=fcr,site=site-1 code="E042" {NOW_NS}'
    ]


def test_bad_points_are_refused_alone_in_line_order() -> None:
    accepted = validator().check(
        BOX,
        decoded(
            Point("telemetry", {}, {"soc_pct": "high"}, NOW_NS),
            Point("telemetry", {}, {"soc_pct": 50.0}, NOW_NS),
            Point("telemetry", {}, {"soc_pct": 50.0}, NOW_NS + 3600 * 10**9),
            errors=[LineError(4, "unreadable")],
        ),
        NOW_NS,
    )
    assert accepted.count == 1
    assert [(e.line, e.category) for e in accepted.errors] == [(1, "type"), (3, "timestamp"), (4, "invalid")]
    assert accepted.errors[0].reason == "field 'soc_pct' must be float, got 'high'"


def test_another_box_s_data_refuses_the_whole_request() -> None:
    points = decoded(
        Point("telemetry", {}, {"soc_pct": 50.0}, NOW_NS), Point("telemetry", {"jbox_id": "jbox-0002"}, {}, NOW_NS)
    )
    with pytest.raises(ForbiddenError, match="belongs to 'jbox-0001' and cannot write data of 'jbox-0002'"):
        validator().check(BOX, points, NOW_NS)
