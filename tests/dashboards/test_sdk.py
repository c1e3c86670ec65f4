"""The generated dashboard read by Grafana's own typed models (grafana-foundation-sdk, the models
Grafana generates from its schema) and written back: nothing may be lost but what is listed here,
each with why. Keys the models add back are their defaults (``transparent: false``...), not changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import JboxmonConfig
from dashboards.build import BuildOptions, documents

sdk = pytest.importorskip("grafana_foundation_sdk")
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402
from grafana_foundation_sdk.cog.plugins import register_default_plugins  # noqa: E402
from grafana_foundation_sdk.models.dashboard import Dashboard  # noqa: E402

# path pattern (list indexes as [*]) -> why the SDK's models cannot carry it
DROPPED_AND_WHY = {
    "/annotations/list[*]/query": "the SDK's AnnotationTarget models only the built-in Grafana data source "
    "(its own TODO says so); Grafana's InfluxDB data source reads the InfluxQL annotation query from here",
    "/annotations/list[*]/textColumn": "same: the InfluxDB annotation's column giving each event's text",
    "/annotations/list[*]/tagsColumn": "same: the InfluxDB annotation's columns giving each event's tags",
}


def _differences(before: object, after: object, path: str = "") -> list[tuple[str, str]]:
    """(kind, path) of every key dropped, added or changed from ``before`` to ``after``."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            where = f"{path}/{key}"
            if key not in after:
                out.append(("dropped", where))
            elif key not in before:
                out.append(("added", where))
            else:
                out += _differences(before[key], after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (x, y) in enumerate(zip(before, after, strict=True)) for d in _differences(x, y, f"{path}[*]")]
    return [] if before == after else [("changed", path)]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("grafana")
    return json.loads(documents(JboxmonConfig(), BuildOptions(out=Path(out)))["dashboards/jboxmon-fleet.json"])


def test_round_trip_through_grafana_models_loses_only_what_is_listed(board: dict) -> None:
    register_default_plugins()
    again = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    found = _differences(board, again)
    assert [path for kind, path in found if kind == "changed"] == []
    dropped = sorted({path for kind, path in found if kind == "dropped"})
    assert dropped == sorted(DROPPED_AND_WHY)
    # the panels came back typed as what they are, with their queries and transformations intact
    assert [p["type"] for p in again["panels"]] == [p["type"] for p in board["panels"]]
    assert [t.get("query") for p in again["panels"] for t in p["targets"]] == [
        t.get("query") for p in board["panels"] for t in p["targets"]
    ]


def test_the_check_sees_a_dropped_key(board: dict) -> None:
    register_default_plugins()
    spoiled = {**board, "panels": [{**board["panels"][0], "no_such_grafana_key": 1}, *board["panels"][1:]]}
    again = json.loads(json.dumps(Dashboard.from_json(spoiled), cls=JSONEncoder))
    assert ("dropped", "/panels[*]/no_such_grafana_key") in _differences(spoiled, again)
