"""Grafana's JSON shapes, as small functions: panels, InfluxQL targets, thresholds, variables.

Only what jboxmon's dashboards use, written against Grafana's dashboard schema (version 39,
Grafana 10/11). Panel ids and grid positions are given by :func:`layout`, so a dashboard's JSON
depends on its definition only and comes out byte-identical on every build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DATASOURCE_UID = "jboxmon-influxdb"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
EXPRESSION = {"type": "__expr__", "uid": "__expr__"}  # Grafana's server-side expressions
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    """One InfluxQL target. ``alias`` uses Grafana's InfluxDB aliases (``$tag_jbox_id``, ``$col``)."""

    ref: str
    influxql: str
    alias: str = ""
    hide: bool = False
    result_format: str = "time_series"  # or "table": one row per series (tags as columns)

    def json(self) -> dict[str, Any]:
        target: dict[str, Any] = {
            "datasource": DATASOURCE,
            "query": self.influxql,
            "rawQuery": True,
            "refId": self.ref,
            "resultFormat": self.result_format,
        }
        if self.alias:
            target["alias"] = self.alias
        if self.hide:
            target["hide"] = True
        return target


@dataclass(frozen=True)
class Math:
    """A server-side math expression over other targets: ``$A / $B``."""

    ref: str
    expression: str

    def json(self) -> dict[str, Any]:
        return {"datasource": EXPRESSION, "expression": self.expression, "refId": self.ref, "type": "math"}


@dataclass(frozen=True)
class Threshold:
    value: float | None  # None: the base colour, below the first step
    color: str


@dataclass(frozen=True)
class Panel:
    """A panel before layout: what it shows and how wide and tall it is (grid units)."""

    title: str
    targets: Sequence[Query | Math]
    kind: str = "timeseries"  # timeseries | stat | table
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    thresholds: Sequence[Threshold] = (Threshold(None, "green"),)
    show_thresholds: bool = False  # draw threshold lines on a time series
    stacked: bool = False
    min_interval: str = ""
    transformations: Sequence[dict[str, Any]] = ()  # Grafana's, applied in the browser in this order

    def queries(self) -> list[Query]:
        return [t for t in self.targets if isinstance(t, Query)]

    def json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        custom: dict[str, Any] = {}
        if self.kind == "timeseries":
            custom = {"fillOpacity": 10, "lineWidth": 1, "showPoints": "never", "spanNulls": False}
            custom["thresholdsStyle"] = {"mode": "dashed" if self.show_thresholds else "off"}
            if self.stacked:
                custom["stacking"] = {"group": "A", "mode": "normal"}
        panel: dict[str, Any] = {
            "datasource": DATASOURCE,
            "fieldConfig": {
                "defaults": {
                    "custom": custom,
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [{"color": t.color, "value": t.value} for t in self.thresholds],
                    },
                    "unit": self.unit,
                },
                "overrides": [],
            },
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": _options(self.kind),
            "targets": [t.json() for t in self.targets],
            "title": self.title,
            "type": self.kind,
        }
        if self.description:
            panel["description"] = self.description
        if self.min_interval:
            panel["interval"] = self.min_interval
        if self.transformations:
            panel["transformations"] = list(self.transformations)
        return panel


def _options(kind: str) -> dict[str, Any]:
    if kind == "table":
        return {"cellHeight": "sm", "showHeader": True}
    if kind == "stat":
        return {"colorMode": "value", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"]}}
    return {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi", "sort": "desc"}}


def layout(panels: Sequence[Panel]) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping at the grid's width; ids count from 1."""
    placed, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(panel.json(number, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    return placed


@dataclass(frozen=True)
class Variable:
    """A template variable filled by an InfluxQL ``SHOW TAG VALUES`` query; multi-select with All."""

    name: str
    label: str
    influxql: str

    def json(self) -> dict[str, Any]:
        return {
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": DATASOURCE,
            "includeAll": True,
            "label": self.label,
            "multi": True,
            "name": self.name,
            "query": self.influxql,
            "refresh": 2,  # on time range change: new boxes appear without a reload
            "sort": 1,
            "type": "query",
        }


@dataclass(frozen=True)
class Annotation:
    """Events from an InfluxQL query: ``text`` and ``tags`` name columns of its result."""

    name: str
    influxql: str
    color: str
    text: str
    tags: str

    def json(self) -> dict[str, Any]:
        return {
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": self.color,
            "name": self.name,
            "query": self.influxql,
            "tagsColumn": self.tags,
            "textColumn": self.text,
        }
