"""The fleet overview dashboard: is the fleet reporting, how much of it is faulty, and, for the
boxes picked in the ``box`` variable, power against setpoint, state of charge, temperatures against
``fleet.temp_*`` and log volume by level. Alert transitions from the ``alerts`` measurement (written
by the rules service) are annotations.

Every query is InfluxQL on the v1 API (InfluxDB 1.x, 2.x compat, 3.x) with Grafana's macros:
``$timeFilter``, ``${__from}``, ``${__to}``, ``$__interval``, ``$__interval_ms`` and the ``$region``
and ``$box`` variables (regex matches, as Grafana renders multi-value variables for InfluxDB).
"""

from __future__ import annotations

from typing import Any

from config.durations import format_duration
from config.model import FleetConfig
from dashboards.panels import Annotation, Math, Panel, Query, Threshold, Variable, layout

UID = "jboxmon-fleet"
REGION = '"region" =~ /^$region$/'
BOX = '"jbox_id" =~ /^$box$/'
NOW_WINDOW = "1m"  # "now" in the stats: telemetry comes every 10 s, v2 boxes batch it up to 10 s late
LOOKBACK = "7d"  # how far before the time range alert transitions are summed (raw data is kept 7 days)
POWER = 'mean("p_meas_kw") AS "measured", mean("p_setpoint_kw") AS "setpoint"'


def _per_box(select: str) -> str:
    return f'SELECT {select} FROM "telemetry" WHERE $timeFilter AND {BOX} GROUP BY time($__interval), "jbox_id"'


def boxes_reporting(
    bucket: str = "$__interval", measurement: str = '"telemetry"', field: str = "p_meas_kw", where: str = REGION
) -> str:
    """Boxes with at least one point per bucket: a count over a per-box subquery (InfluxQL has no
    count of distinct tag values)."""
    condition = f"$timeFilter AND {where}" if where else "$timeFilter"
    inner = f'SELECT last("{field}") AS "seen" FROM {measurement} WHERE {condition} GROUP BY time({bucket}), "jbox_id"'
    return f'SELECT count("seen") FROM ({inner}) WHERE $timeFilter GROUP BY time({bucket}) fill(0)'


def boxes_reporting_now(where: str = REGION) -> str:
    """One number: boxes with telemetry in the last minute. A stat of the time series' last bucket
    would count a bucket still filling, and show boxes missing that are only not due yet."""
    condition = f"time > now() - {NOW_WINDOW} AND {where}" if where else f"time > now() - {NOW_WINDOW}"
    inner = f'SELECT last("p_meas_kw") AS "seen" FROM "telemetry" WHERE {condition} GROUP BY "jbox_id"'
    return f'SELECT count("seen") FROM ({inner})'


def open_alerts(group_by: str = "") -> str:
    """Box alerts firing, from the transitions in ``alerts``: +1 per firing, -1 per resolved, summed
    from ``LOOKBACK`` before the time range, so alerts that began before it are counted.

    Points before the range come back too; Grafana draws the range only. The window is written in
    the queries themselves, not in an outer query: InfluxDB 1.x pushes an outer time condition down
    into the subqueries, which would restart the sum at the range's start. The subqueries group by
    time (and ``group_by``) only: InfluxDB 1.x does not merge the series of subqueries grouped by
    more tags than the outer query, it returns them one after the other.
    """
    by = f', "{group_by}"' if group_by else ""
    window = f"time >= ${{__from}}ms - {LOOKBACK} AND time <= ${{__to}}ms"

    def count(state: str, sign: str) -> str:
        return (
            f'SELECT {sign}count("value") AS "n" FROM "alerts" WHERE "state" = \'{state}\' AND "jbox_id" != \'\' '
            f"AND {window} GROUP BY time($__interval){by} fill(0)"
        )

    return (
        f'SELECT cumulative_sum(sum("n")) FROM ({count("firing", "")}), ({count("resolved", "-1 * ")}) '
        f"WHERE {window} GROUP BY time($__interval){by} fill(0)"
    )


def open_alerts_now() -> str:
    """One number: box alerts firing now (+1 per firing, -1 per resolved transition of the last
    ``LOOKBACK``). No outer time condition and no GROUP BY time, so InfluxDB stamps it at time 0, like
    :func:`boxes_reporting_now`: Grafana's math joins series on exact timestamps, and two single
    numbers at the same instant are what ``$A / $B`` can divide (a series on time buckets divided by
    a point at time 0 gives no point at all, i.e. "No data")."""
    window = f"time > now() - {LOOKBACK}"

    def count(state: str, sign: str) -> str:
        return (
            f'SELECT {sign}count("value") AS "n" FROM "alerts" WHERE "state" = \'{state}\' AND "jbox_id" != \'\' '
            f"AND {window}"
        )

    return f'SELECT sum("n") FROM ({count("firing", "")}), ({count("resolved", "-1 * ")})'


def faulty_share_hourly() -> str:
    """The faulty share per hour from the retention's hourly roll-up (``ds_1h.usage``: boxes with an
    alert firing in the hour over boxes expected): a few rows per hour of range, instead of summing
    7 days of raw alert transitions at every refresh."""
    return (
        'SELECT sum("faulty_boxes") / sum("boxes_expected") AS "faulty share" FROM "ds_1h"."usage" '
        # points are stamped at their hour's start: the hour the range begins in starts before it
        f"WHERE time >= ${{__from}}ms - 1h AND time <= ${{__to}}ms AND {REGION} GROUP BY time(1h) fill(none)"
    )


def versions_in_use() -> str:
    """Each box's latest firmware and payload version in the range (heartbeats): a table that
    Grafana's groupBy transformation counts per version pair."""
    return (
        'SELECT last("fw_version") AS "firmware", last("payload_version") AS "payload" FROM "heartbeat" '
        f'WHERE $timeFilter AND {REGION} GROUP BY "jbox_id"'
    )


def fleet_soc() -> str:
    """The spread of the fleet's state of charge: 10th, 50th and 90th percentile of the boxes' means."""
    inner = (
        f'SELECT mean("soc_pct") AS "soc" FROM "telemetry" WHERE $timeFilter AND {REGION} '
        'GROUP BY time($__interval), "jbox_id"'
    )
    return (
        'SELECT percentile("soc", 10) AS "p10", median("soc") AS "median", percentile("soc", 90) AS "p90" '
        f"FROM ({inner}) WHERE $timeFilter GROUP BY time($__interval)"
    )


def variables() -> list[Variable]:
    return [
        Variable("region", "Region", 'SHOW TAG VALUES FROM "telemetry" WITH KEY = "region"'),
        Variable("box", "JBOX", f'SHOW TAG VALUES FROM "telemetry" WITH KEY = "jbox_id" WHERE {REGION}'),
    ]


def annotations() -> list[Annotation]:
    def transitions(state: str) -> str:
        return (
            f'SELECT "value", "alertname", "jbox_id", "severity" FROM "alerts" '
            f"WHERE $timeFilter AND \"state\" = '{state}' AND ({BOX} OR \"jbox_id\" = '')"
        )

    return [
        Annotation("Alerts firing", transitions("firing"), "red", "alertname", "jbox_id,severity"),
        Annotation("Alerts resolved", transitions("resolved"), "green", "alertname", "jbox_id,severity"),
    ]


def panels(fleet: FleetConfig) -> list[Panel]:
    heartbeat = format_duration(fleet.heartbeat_interval)
    temperature = (
        Threshold(None, "green"),
        Threshold(fleet.temp_warning_c, "orange"),
        Threshold(fleet.temp_critical_c, "red"),
    )
    return [
        Panel(
            "Boxes reporting now",
            [Query("A", boxes_reporting_now())],
            kind="stat",
            width=4,
            height=4,
            description=f"Boxes with telemetry in the last {NOW_WINDOW}.",
        ),
        Panel(
            "Faulty share now",
            _faulty_share_now(),
            kind="stat",
            unit="percentunit",
            width=4,
            height=4,
            description=f"Box alerts firing now (a box with two alerts counts twice; transitions of the last "
            f"{LOOKBACK}) over boxes with telemetry in the last {NOW_WINDOW}.",
            thresholds=(Threshold(None, "green"), Threshold(0.1, "orange"), Threshold(0.2, "red")),
        ),
        Panel(
            "Boxes reporting",
            [
                Query("A", boxes_reporting(), alias="telemetry"),
                Query("B", boxes_reporting(heartbeat, '"heartbeat"', "uptime_s"), alias="heartbeat"),
            ],
            width=16,
            height=4,
            description=f"Boxes with telemetry in each interval; boxes with a heartbeat per {heartbeat} "
            "(fleet.heartbeat_interval).",
            min_interval="10s",
        ),
        Panel(
            "Faulty share",
            [Query("A", faulty_share_hourly(), alias="faulty share")],
            unit="percentunit",
            description="Per hour: boxes with an alert that fired in the hour over boxes expected, from the hourly "
            "roll-up of the retention service (ds_1h.usage; the last hours appear once its pass has run). The "
            "roll-up counts firing transitions: an alert firing for hours counts in the hour it began.",
            thresholds=(Threshold(None, "green"), Threshold(0.1, "orange"), Threshold(0.2, "red")),
            show_thresholds=True,
            min_interval="1h",
        ),
        Panel(
            "Alerts firing by rule",
            [Query("A", open_alerts("alertname"), alias="$tag_alertname")],
            stacked=True,
            min_interval="1m",
        ),
        Panel(
            "Power vs setpoint",
            [Query("A", _per_box(POWER), "$tag_jbox_id $col")],
            unit="kwatt",
            width=24,
            description="Measured power and its setpoint per box: the fault that matters most is the first "
            "not following the second for minutes.",
            min_interval="10s",
        ),
        Panel(
            "State of charge",
            [Query("A", _per_box('mean("soc_pct")'), alias="$tag_jbox_id")],
            unit="percent",
            min_interval="10s",
        ),
        Panel(
            "Fleet state of charge around 50 %",
            [Query("A", fleet_soc(), alias="$col")],
            unit="percent",
            description="10th, 50th and 90th percentile of the boxes' state of charge. FCR keeps boxes near "
            "50 % so the reserve lasts 15 minutes either way; a spread drifting from the 50 % line is "
            "the fleet losing headroom.",
            thresholds=(Threshold(None, "green"), Threshold(50, "blue")),
            show_thresholds=True,
            min_interval="1m",
        ),
        Panel(
            "Firmware and payload versions in use",
            [Query("A", versions_in_use(), result_format="table")],
            kind="table",
            description="Boxes per firmware and payload version (each box's latest heartbeat in the range): "
            "plan the end of an old version when its count reaches zero.",
            transformations=(
                {
                    "id": "groupBy",
                    "options": {
                        "fields": {
                            "firmware": {"aggregations": [], "operation": "groupby"},
                            "jbox_id": {"aggregations": ["count"], "operation": "aggregate"},
                            "payload": {"aggregations": [], "operation": "groupby"},
                        }
                    },
                },
            ),
        ),
        Panel(
            "Hottest cell",
            [Query("A", _per_box('max("temp_max_c")'), alias="$tag_jbox_id")],
            unit="celsius",
            description=f"Warning above {fleet.temp_warning_c:g} °C, critical above {fleet.temp_critical_c:g} °C "
            "(fleet.temp_warning_c, fleet.temp_critical_c).",
            thresholds=temperature,
            show_thresholds=True,
            min_interval="10s",
        ),
        Panel(
            "Log lines per minute by level",
            [
                Query(
                    "A",
                    'SELECT count("code") * 60000 / $__interval_ms FROM "logs"."log" '
                    f'WHERE $timeFilter AND {BOX} GROUP BY time($__interval), "level" fill(0)',
                    alias="$tag_level",
                )
            ],
            unit="short",
            width=24,
            stacked=True,
            min_interval="1m",
        ),
    ]


def _faulty_share_now() -> list[Query | Math]:
    # alerts carry no region tag: the share is of the whole fleet; both numbers are stamped at time 0
    return [
        Query("A", open_alerts_now(), hide=True),
        Query("B", boxes_reporting_now(where=""), hide=True),
        Math("C", "$A / $B"),
    ]


def dashboard(fleet: FleetConfig) -> dict[str, Any]:
    """The dashboard's JSON model (a dict; the build writes it with sorted keys)."""
    return {
        "annotations": {"list": [a.json() for a in annotations()]},
        "editable": True,
        "graphTooltip": 1,  # shared crosshair: the same instant on every panel
        "panels": layout(panels(fleet)),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["jboxmon"],
        "templating": {"list": [v.json() for v in variables()]},
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "title": "JBOX fleet",
        "uid": UID,
        "version": 1,
    }
