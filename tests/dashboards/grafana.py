"""What Grafana would show for a panel, computed against a real InfluxDB: the dashboards' check.

Grafana is not installed here, so the parts of it that decide what a panel shows are written down
from its documentation and source, small enough to read:

- **Macros** as Grafana's InfluxDB (InfluxQL) data source renders them: ``$timeFilter`` ->
  ``time >= <from>ms and time <= <to>ms``, ``${__from}``/``${__to}`` in epoch ms, ``$__interval``
  from the range over ``maxDataPoints`` rounded to Grafana's nice steps and never below the panel's
  ``interval`` (its min interval), ``$__interval_ms``; multi-value variables as ``(a|b|c)``.
- **Results**: one series per tag set and column (``time_series``), or one table (``table``); rows
  whose value is null stay as null points (Grafana keeps them; a stat skips them).
- **Server-side math** (``type: math``, ``$A / $B``): a binary operation between two series keeps only
  the timestamps present in both (Grafana's SSE joins on exact time); a series with one number
  broadcasts only when it is a number, not a series. Series are matched by labels when both sides
  have several, else one to many.
- **Transformations**: ``groupBy`` (group by fields, count/sum/... the others).
- **No data**: a panel whose visible results hold no non-null value, which is what Grafana writes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from storage import InfluxClient

# Grafana's interval rounding (pkg/tsdb/intervalv2 roundInterval), in ms: the nice steps
_STEPS = [
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
    (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
    (150000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
    (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
    (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
]  # fmt: skip
UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def round_interval(ms: float) -> int:
    for limit, step in _STEPS:
        if ms < limit:
            return step
    return 604_800_000


def parse_interval(text: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    if not match:
        raise ValueError(f"not an interval: {text!r}")
    return int(match.group(1)) * UNITS_MS[match.group(2)]


def format_interval(ms: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ms % UNITS_MS[unit] == 0:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


@dataclass
class Range:
    """A dashboard time range and the variables picked (values; several = Grafana's regex group)."""

    from_ms: int
    to_ms: int
    variables: dict[str, list[str]] = field(default_factory=dict)
    max_data_points: int = 1000  # about a panel's width in pixels

    def interval_ms(self, panel: dict) -> int:
        computed = round_interval((self.to_ms - self.from_ms) / self.max_data_points)
        minimum = parse_interval(panel["interval"]) if panel.get("interval") else 0
        return max(computed, minimum)


def expand(query: str, panel: dict, when: Range) -> str:
    """The query as Grafana sends it to InfluxDB."""
    interval = when.interval_ms(panel)
    values = {
        "$timeFilter": f"time >= {when.from_ms}ms and time <= {when.to_ms}ms",
        "${__from}": str(when.from_ms),
        "${__to}": str(when.to_ms),
        "$__interval_ms": str(interval),
        "$__interval": format_interval(interval),
    }
    for name, picked in when.variables.items():
        values[f"${name}"] = "(" + "|".join(re.escape(v) for v in picked) + ")"
    for macro in sorted(values, key=len, reverse=True):  # $__interval_ms before $__interval
        query = query.replace(macro, values[macro])
    left = re.findall(r"\$\{?\w+", query.replace("$/", ""))
    if left:
        raise ValueError(f"macros or variables not expanded: {left} in {query}")
    return query


@dataclass
class Series:
    """One Grafana data frame of a time series: labels and ``{epoch_ms: value or None}``."""

    name: str
    labels: dict[str, str]
    points: dict[int, float | None]

    def values(self) -> list[float]:
        return [v for v in self.points.values() if v is not None and not math.isnan(v)]


Frame = list[Series] | pd.DataFrame  # time series, or a table


def run_target(influx: InfluxClient, target: dict, panel: dict, when: Range) -> Frame:
    statement = expand(target["query"], panel, when)
    results = influx.query_raw(statement)
    if target.get("resultFormat") == "table":
        rows = []
        for result in results:
            for series in result.get("series", []):
                for values in series.get("values", []):
                    rows.append({**(series.get("tags") or {}), **dict(zip(series["columns"], values, strict=True))})
        return pd.DataFrame(rows)
    out = []
    for result in results:
        if "error" in result:
            raise ValueError(f"InfluxDB refused {statement}: {result['error']}")
        for series in result.get("series", []):
            tags = series.get("tags") or {}
            columns = series["columns"]
            for index, column in enumerate(columns[1:], start=1):
                points = {_ms(row[0]): _number(row[index]) for row in series.get("values", [])}
                name = " ".join([series["name"], column, *(f"{k}={v}" for k, v in sorted(tags.items()))])
                out.append(Series(name, dict(tags), points))
    return out


def _ms(value: object) -> int:
    return int(pd.Timestamp(value).value // 1_000_000)


def _number(value: object) -> float | None:
    if value is None or isinstance(value, str | bool):
        return None
    return float(value)


OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else math.nan,
}


def math_expression(expression: str, frames: dict[str, Frame]) -> list[Series]:
    """``$A <op> $B`` with Grafana SSE's semantics: series join on exact timestamps only."""
    match = re.fullmatch(r"\s*\$(\w+)\s*([-+*/])\s*\$(\w+)\s*", expression)
    if not match:
        raise ValueError(f"only '$A op $B' is emulated, got {expression!r}")
    left, op, right = frames[match.group(1)], OPS[match.group(2)], frames[match.group(3)]
    assert isinstance(left, list) and isinstance(right, list), "math on tables is not Grafana's"
    out = []
    pairs = [(a, b) for a in left for b in right if len(left) == 1 or len(right) == 1 or a.labels == b.labels]
    for a, b in pairs:
        common = sorted(set(a.points) & set(b.points))  # exact timestamps only
        points = {}
        for t in common:
            x, y = a.points[t], b.points[t]
            points[t] = None if x is None or y is None else op(x, y)
        out.append(Series(f"{a.name} {match.group(2)} {b.name}", {**b.labels, **a.labels}, points))
    return out


def group_by(table: pd.DataFrame, options: dict) -> pd.DataFrame:
    """Grafana's ``groupBy`` transformation: rows grouped by the ``groupby`` fields, the ``aggregate``
    fields reduced (count, sum, mean, min, max, last); other fields dropped."""
    if table.empty:
        return table
    fields = options["fields"]
    keys = [name for name, how in fields.items() if how["operation"] == "groupby" and name in table]
    reducers = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max", "last": "last"}
    aggregations = {
        f"{name} ({calc})": pd.NamedAgg(column=name, aggfunc=reducers[calc])
        for name, how in fields.items()
        if how["operation"] == "aggregate" and name in table
        for calc in how["aggregations"]
    }
    return table.groupby(keys, dropna=False).agg(**aggregations).reset_index()


def panel_data(influx: InfluxClient, panel: dict, when: Range) -> list[Frame]:
    """The results a panel draws: its visible targets and expressions, transformations applied."""
    frames: dict[str, Frame] = {}
    visible = []
    for target in panel["targets"]:
        if target.get("type") == "math":
            frames[target["refId"]] = math_expression(target["expression"], frames)
        else:
            frames[target["refId"]] = run_target(influx, target, panel, when)
        if not target.get("hide"):
            visible.append(frames[target["refId"]])
    for transformation in panel.get("transformations", []):
        if transformation["id"] != "groupBy":
            raise ValueError(f"transformation {transformation['id']!r} is not emulated")
        visible = [group_by(f, transformation["options"]) if isinstance(f, pd.DataFrame) else f for f in visible]
    return visible


def shows_no_data(frames: list[Frame]) -> bool:
    """True when Grafana would write "No data": no visible result holds a value."""
    for frame in frames:
        if isinstance(frame, pd.DataFrame):
            if not frame.empty:
                return False
        elif any(series.values() for series in frame):
            return False
    return True


def stat_value(frames: list[Frame]) -> float | None:
    """What a stat panel with ``lastNotNull`` shows (the first series)."""
    for frame in frames:
        for series in frame if isinstance(frame, list) else []:
            values = [series.points[t] for t in sorted(series.points) if series.points[t] is not None]
            if values:
                return values[-1]
    return None
