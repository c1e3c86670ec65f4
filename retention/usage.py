"""Usage by region for BI: an hourly roll-up per site, region and service, kept in InfluxDB.

Per box and hour, from raw telemetry: energy delivered (power > 0) and absorbed (power < 0) in kWh is
the sum of the samples times the box's sampling period (the median spacing of its samples in that
hour; ``default_sample_period`` for a lone sample), the same as summing power x period over the raw
rows. Per site/region/service: those energies summed, ``boxes_expected`` (the inventory's boxes, or
those reporting when the inventory does not know the site), ``boxes_reporting`` (at least one sample),
``faulty_boxes`` (an alert firing in the hour, from the ``alerts`` measurement the rules write),
``availability`` = reporting / expected and ``faulty_share`` = faulty / expected.

Written as points of ``ds_1h.usage`` at the hour's start; rewriting an hour replaces it, so the last
``late_windows`` hours are recomputed every pass for late data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from config.retention import UsageConfig
from inventory import Box
from retention.checkpoint import Checkpoints
from retention.downsample import earliest_ns
from storage import InfluxClient, quote_ident
from storage.lineprotocol import encode_point

NS = 1_000_000_000
HOUR = 3600 * NS
GROUP_TAGS = ("site", "region", "service")
KEY = "usage/telemetry"


@dataclass
class _Group:
    delivered: float = 0.0
    absorbed: float = 0.0
    reporting: int = 0
    faulty: int = 0
    expected: int = 0


def box_hour_energy(influx: InfluxClient, config: UsageConfig, start: int, end: int) -> pd.DataFrame:
    """Per box, per hour: delivered/absorbed kWh, with its site, region and service."""
    power = quote_ident(config.power_field)
    where = f"time >= {start} AND time < {end}"
    by = "GROUP BY time(1h), " + ", ".join(quote_ident(t) for t in ("jbox_id", *GROUP_TAGS)) + " fill(none)"
    source = '"raw"."telemetry"'
    statements = [
        f"SELECT sum({power}) AS pos FROM {source} WHERE {where} AND {power} > 0 {by}",
        f"SELECT sum({power}) AS neg FROM {source} WHERE {where} AND {power} < 0 {by}",
        f"SELECT count({power}) AS n FROM {source} WHERE {where} {by}",
        f"SELECT median(dt) AS dt FROM (SELECT elapsed({power}, 1ms) AS dt FROM {source} WHERE {where} GROUP BY *) "
        f"WHERE {where} {by}",
    ]
    results = influx.query_raw("; ".join(statements))
    frames = []
    for result in results:
        rows = []
        for series in result.get("series", []):
            tags = series.get("tags") or {}
            for row in series.get("values") or []:
                rows.append({**tags, "time": row[0], series["columns"][1]: row[1]})
        frames.append(pd.DataFrame(rows))
    keys = ["time", "jbox_id", *GROUP_TAGS]
    merged = frames[2]
    if merged.empty:
        return pd.DataFrame(columns=[*keys, "delivered_kwh", "absorbed_kwh"])
    for frame in (frames[0], frames[1], frames[3]):
        if not frame.empty:
            merged = merged.merge(frame, on=keys, how="left")
    for column in ("pos", "neg", "dt"):
        if column not in merged:
            merged[column] = float("nan")
    period_s = (merged["dt"] / 1000).fillna(config.default_sample_period)
    merged["delivered_kwh"] = merged["pos"].fillna(0.0) * period_s / 3600
    merged["absorbed_kwh"] = -merged["neg"].fillna(0.0) * period_s / 3600
    return merged


def faulty_boxes(influx: InfluxClient, start: int, end: int) -> dict[int, set[str]]:
    query = (
        f'SELECT count("value") FROM "alerts" WHERE time >= {start} AND time < {end} AND "state" = \'firing\' '
        'GROUP BY time(1h), "jbox_id" fill(none)'
    )
    faulty: dict[int, set[str]] = defaultdict(set)
    results = influx.query_raw(query)
    for series in results[0].get("series", []) if results else []:
        for row in series.get("values") or []:
            faulty[int(row[0])].add((series.get("tags") or {}).get("jbox_id", ""))
    return faulty


def rollup_lines(
    energy: pd.DataFrame, faulty: dict[int, set[str]], inventory: list[Box], config: UsageConfig
) -> list[str]:
    expected: dict[tuple, int] = defaultdict(int)
    for box in inventory:
        expected[(box.site, box.region, box.service)] += 1
    lines = []
    for hour, rows in energy.groupby("time"):
        groups: dict[tuple, _Group] = defaultdict(_Group)
        for row in rows.itertuples(index=False):
            group = groups[(row.site or "", row.region or "", row.service or "")]
            group.delivered += float(row.delivered_kwh)
            group.absorbed += float(row.absorbed_kwh)
            group.reporting += 1
            group.faulty += row.jbox_id in faulty.get(int(hour), ())
        for key, group in groups.items():
            group.expected = max(expected.get(key, 0), group.reporting)
            tags = dict(zip(GROUP_TAGS, key, strict=True))
            fields = {
                "energy_delivered_kwh": group.delivered,
                "energy_absorbed_kwh": group.absorbed,
                "boxes_expected": group.expected,
                "boxes_reporting": group.reporting,
                "faulty_boxes": group.faulty,
                "availability": group.reporting / group.expected,
                "faulty_share": group.faulty / group.expected,
            }
            line = encode_point(config.measurement, tags, fields, int(hour))
            if line:
                lines.append(line)
    return lines


class UsageRollup:
    """Rolls complete hours up since its checkpoint (minus ``late_windows`` hours), a day per query."""

    def __init__(
        self,
        influx: InfluxClient,
        config: UsageConfig,
        checkpoints: Checkpoints,
        late_windows: int,
        clock: Callable[[], float],
        inventory: Callable[[], list[Box]] = list,
    ) -> None:
        self.influx = influx
        self.config = config
        self.checkpoints = checkpoints
        self.late_windows = late_windows
        self.clock = clock
        self.inventory = inventory

    def run(self) -> int:
        end = int(self.clock() * NS) // HOUR * HOUR
        done = self.checkpoints.get(KEY)
        if done is None:
            first = earliest_ns(self.influx, "raw", "telemetry")
            if first is None:
                return 0
            start = first // HOUR * HOUR
        else:
            start = max(0, done - self.late_windows * HOUR)
        boxes = self.inventory()
        written = 0
        while start < end:
            chunk_end = min(end, start + 24 * HOUR)
            energy = box_hour_energy(self.influx, self.config, start, chunk_end)
            lines = rollup_lines(energy, faulty_boxes(self.influx, start, chunk_end), boxes, self.config)
            if lines:
                self.influx.write_batches(lines, retention_policy=self.config.retention_policy)
            written += len(lines)
            self.checkpoints.set(KEY, max(chunk_end, done or 0))
            start = chunk_end
        return written


def usage_report(influx: InfluxClient, config: UsageConfig, by: str, start_ns: int, end_ns: int) -> pd.DataFrame:
    """Totals per ``by`` (region, site or service) over ``[start_ns, end_ns)`` from the hourly roll-up.

    Availability and faulty share are over box-hours: reporting (faulty) box-hours / expected box-hours.
    """
    if by not in GROUP_TAGS:
        raise ValueError(f"--by must be one of {', '.join(GROUP_TAGS)}, got {by!r}")
    source = f"{quote_ident(config.retention_policy)}.{quote_ident(config.measurement)}"
    query = (
        'SELECT sum("energy_delivered_kwh") AS energy_delivered_kwh, sum("energy_absorbed_kwh") AS '
        'energy_absorbed_kwh, sum("boxes_expected") AS expected, sum("boxes_reporting") AS reporting, '
        f'sum("faulty_boxes") AS faulty, count("boxes_expected") AS n FROM {source} '
        f"WHERE time >= {start_ns} AND time < {end_ns} GROUP BY {quote_ident(by)}"
    )
    frame = influx.query(query)
    columns = [by, "energy_delivered_kwh", "energy_absorbed_kwh", "box_hours", "availability", "faulty_share"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.rename(columns={"expected": "box_hours"})
    frame["availability"] = frame["reporting"] / frame["box_hours"]
    frame["faulty_share"] = frame["faulty"] / frame["box_hours"]
    frame[by] = frame[by].fillna("")
    return frame[columns].sort_values(by).reset_index(drop=True)
