"""Usage by region for BI: an hourly roll-up per site, region and service, kept in InfluxDB.

**Energy**, per box and hour, from raw telemetry: power integrated over time for any sampling. Each
sample stands for the time until the box's next sample in the same hour, at most
``max_sample_period`` (a longer silence is a gap, not a long sample); the hour's last sample for the
gap before it (same cap), and a lone sample for ``default_sample_period``. Samples with power > 0
make the energy delivered, < 0 the energy absorbed (kWh). Hours are independent: rewriting one
(late data) never changes another. InfluxDB does the integration (``elapsed``, ``difference`` and
``moving_average`` rebuild each sample's period and power in one subquery per hour and box batch), so
only a few numbers per box-hour cross the wire whatever the sampling rate.

Per site/region/service: those energies summed, ``boxes_expected`` (the inventory's boxes of the
group, plus any box that reported without being in it), ``boxes_reporting`` (at least one sample in
the hour), ``faulty_boxes`` (boxes with an alert firing at any moment of the hour, from the alert
history the rules write in ``alerts``: an alert firing since before the hour counts too),
``availability`` = reporting / expected and ``faulty_share`` = faulty / expected.

Written as points of ``ds_1h.usage`` at the hour's start; rewriting an hour replaces it, so the last
``late_windows`` hours are recomputed every pass for late data. Queries go per hour and per batch of
``retention.queries.boxes`` boxes; a batch InfluxDB is too slow for is halved (storage.slicing).
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
from storage.slicing import Budget, Piece, Progress, plan_pieces, run_pieces

NS = 1_000_000_000
HOUR = 3600 * NS
KW_NS_PER_KWH = 3600 * NS
GROUP_TAGS = ("site", "region", "service")
KEYS = ("jbox_id", *GROUP_TAGS)
KEY = "usage/telemetry"
ENERGY_COLUMNS = ["time", *KEYS, "delivered_kwh", "absorbed_kwh", "samples"]


@dataclass
class _Group:
    delivered: float = 0.0
    absorbed: float = 0.0
    reporting: int = 0
    faulty: int = 0
    expected: int = 0


def energy_statements(config: UsageConfig, piece: Piece) -> list[str]:
    """The InfluxQL of one hour (``piece``) of energy, six statements sent in one request.

    The subquery gives, at each sample but the first, the previous sample's power ``pp`` (a moving
    average of two minus half their difference: exact up to rounding), the gap ``dt`` (ns) since it
    and their product ``e``; sums split by sign and by ``dt`` against the cap do the rest.
    """
    power = quote_ident(config.power_field)
    source = '"raw"."telemetry"'
    where = piece.where()
    by = "GROUP BY " + ", ".join(quote_ident(t) for t in KEYS)
    previous = f"(moving_average({power}, 2) - difference({power}) / 2)"
    inner = (
        f"SELECT {previous} AS pp, {previous} * elapsed({power}, 1ns) AS e, elapsed({power}, 1ns) AS dt "
        f"FROM {source} WHERE {where} {by}"
    )
    cap = int(config.max_sample_period * NS)
    return [
        f"SELECT sum(e) AS v FROM ({inner}) WHERE dt <= {cap} AND pp > 0 {by}",
        f"SELECT sum(pp) AS v FROM ({inner}) WHERE dt > {cap} AND pp > 0 {by}",
        f"SELECT sum(e) AS v FROM ({inner}) WHERE dt <= {cap} AND pp < 0 {by}",
        f"SELECT sum(pp) AS v FROM ({inner}) WHERE dt > {cap} AND pp < 0 {by}",
        f"SELECT last(dt) AS v FROM ({inner}) {by}",
        f"SELECT last({power}) AS last, count({power}) AS n FROM {source} WHERE {where} {by}",
    ]


def _by_key(result: dict) -> dict[tuple, list]:
    out = {}
    for series in result.get("series", []):
        tags = series.get("tags") or {}
        values = (series.get("values") or [[None]])[0]
        out[tuple(tags.get(t) or "" for t in KEYS)] = values[1:]
    return out


def piece_energy(influx: InfluxClient, config: UsageConfig, piece: Piece) -> list[dict]:
    """Per box (and tag set) of one hour piece: delivered and absorbed kWh and the sample count."""
    results = influx.query_raw("; ".join(energy_statements(config, piece)))
    within_pos, capped_pos, within_neg, capped_neg, last_gap, last = (_by_key(r) for r in results)
    cap = config.max_sample_period * NS
    rows = []
    for key, (last_power, samples) in last.items():
        if last_power is None or not samples:
            continue
        delivered = (within_pos.get(key, [0.0])[0] or 0.0) + (capped_pos.get(key, [0.0])[0] or 0.0) * cap
        absorbed = -((within_neg.get(key, [0.0])[0] or 0.0) + (capped_neg.get(key, [0.0])[0] or 0.0) * cap)
        gap = last_gap.get(key, [None])[0]
        period = min(gap, cap) if samples > 1 and gap is not None else config.default_sample_period * NS
        if last_power > 0:
            delivered += last_power * period
        else:
            absorbed -= last_power * period
        rows.append(
            {
                "time": piece.start_ns // HOUR * HOUR,
                **dict(zip(KEYS, key, strict=True)),
                "delivered_kwh": delivered / KW_NS_PER_KWH,
                "absorbed_kwh": absorbed / KW_NS_PER_KWH,
                "samples": int(samples),
            }
        )
    return rows


def box_hour_energy(
    influx: InfluxClient,
    config: UsageConfig,
    start: int,
    end: int,
    boxes: list[str] | None = None,
    batch: int = 500,
    progress: Progress | None = None,
    budget: Budget | None = None,
) -> pd.DataFrame:
    """Per box, per hour of ``[start, end)`` (hour-aligned): delivered/absorbed kWh, site, region, service."""
    if boxes is None:
        boxes = telemetry_boxes(influx)
    pieces = plan_pieces(start, end, HOUR, boxes, batch)
    results = run_pieces(
        pieces,
        lambda p: piece_energy(influx, config, p),
        align_ns=HOUR,
        progress=progress,
        what="usage",
        budget=budget,
    )
    rows = [row for rows in results for row in rows]
    return pd.DataFrame(rows, columns=ENERGY_COLUMNS)


def telemetry_boxes(influx: InfluxClient) -> list[str]:
    results = influx.query_raw('SHOW TAG VALUES FROM "raw"."telemetry" WITH KEY = "jbox_id"')
    return [row[1] for series in results[0].get("series", []) for row in series.get("values") or []]


def faulty_boxes(influx: InfluxClient, start: int, end: int) -> dict[int, set[str]]:
    """Per hour start in ``[start, end)``: the boxes with an alert firing at any moment of that hour.

    An alert (box and alert name) fires from its ``firing`` point to its next ``resolved`` point; one
    firing since before ``start`` (its last point before is ``firing``) counts from ``start``.
    """
    by = 'GROUP BY "jbox_id", "alertname", "state"'
    # a transition point has "group" (the rules always write it) and "value" (None for some rules)
    statements = [
        f'SELECT last("value") FROM "alerts" WHERE time < {start} {by}',
        f'SELECT last("group") FROM "alerts" WHERE time < {start} {by}',
        f'SELECT "value", "group" FROM "alerts" WHERE time >= {start} AND time < {end} {by}',
    ]
    results = influx.query_raw("; ".join(statements))
    events: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    for index, result in enumerate(results):
        for series in result.get("series", []):
            tags = series.get("tags") or {}
            key, state = (tags.get("jbox_id") or "", tags.get("alertname") or ""), tags.get("state") or ""
            for row in series.get("values") or []:
                if index < 2:
                    if key not in latest or row[0] > latest[key][0]:
                        latest[key] = (int(row[0]), state)
                else:
                    events[key].append((int(row[0]), state))
    for key, (_, state) in latest.items():
        events[key].append((start - 1, state))  # the state the hour range starts in
    faulty: dict[int, set[str]] = defaultdict(set)
    for (jbox_id, _), points in events.items():
        since = None
        for at, state in sorted(points):
            if state == "firing" and since is None:
                since = max(at, start)
            elif state == "resolved" and since is not None:
                _mark(faulty, jbox_id, since, max(at, since + 1))
                since = None
        if since is not None:
            _mark(faulty, jbox_id, since, end)
    return faulty


def _mark(faulty: dict[int, set[str]], jbox_id: str, since: int, until: int) -> None:
    """The box is faulty in every hour that ``[since, until)`` touches."""
    for hour in range(since // HOUR * HOUR, until, HOUR):
        faulty[hour].add(jbox_id)


def rollup_lines(
    energy: pd.DataFrame,
    faulty: dict[int, set[str]],
    inventory: list[Box],
    config: UsageConfig,
    hours: list[int] | None = None,
) -> list[str]:
    """The usage points of ``hours`` (default: the hours of ``energy``); an hour in which no box of a
    group of the inventory reported still gets its point (availability 0)."""
    members: dict[tuple, set[str]] = defaultdict(set)
    for box in inventory:
        members[(box.site, box.region, box.service)].add(box.jbox_id)
    per_hour = {int(hour): rows for hour, rows in energy.groupby("time")}
    lines = []
    for hour in sorted(per_hour) if hours is None else hours:
        rows = per_hour.get(hour, energy.iloc[0:0])
        groups: dict[tuple, _Group] = defaultdict(_Group)
        reporting: dict[tuple, set[str]] = defaultdict(set)
        for row in rows.itertuples(index=False):
            key = (row.site or "", row.region or "", row.service or "")
            group = groups[key]
            group.delivered += float(row.delivered_kwh)
            group.absorbed += float(row.absorbed_kwh)
            reporting[key].add(row.jbox_id)
        for key, group in groups.items():
            group.reporting = len(reporting[key])
            group.expected = len(members.get(key, set()) | reporting[key])
            group.faulty = len((members.get(key, set()) | reporting[key]) & faulty.get(hour, set()))
            lines.append(_line(config, key, group, hour))
        for key, boxes in members.items():  # a group none of whose boxes reported: availability 0
            if key not in groups:
                group = _Group(expected=len(boxes), faulty=len(boxes & faulty.get(hour, set())))
                lines.append(_line(config, key, group, hour))
    return [line for line in lines if line]


def _line(config: UsageConfig, key: tuple, group: _Group, hour: int) -> str | None:
    fields = {
        "energy_delivered_kwh": group.delivered,
        "energy_absorbed_kwh": group.absorbed,
        "boxes_expected": group.expected,
        "boxes_reporting": group.reporting,
        "faulty_boxes": group.faulty,
        "availability": group.reporting / group.expected,
        "faulty_share": group.faulty / group.expected,
    }
    return encode_point(config.measurement, dict(zip(GROUP_TAGS, key, strict=True)), fields, hour)


class UsageRollup:
    """Rolls complete hours up since its checkpoint (minus ``late_windows`` hours), a day at a time."""

    def __init__(
        self,
        influx: InfluxClient,
        config: UsageConfig,
        checkpoints: Checkpoints,
        late_windows: int,
        clock: Callable[[], float],
        inventory: Callable[[], list[Box]] = list,
        *,
        boxes_per_query: int = 500,
        progress: Progress | None = None,
    ) -> None:
        self.influx = influx
        self.config = config
        self.checkpoints = checkpoints
        self.late_windows = late_windows
        self.clock = clock
        self.inventory = inventory
        self.boxes_per_query = boxes_per_query
        self.progress = progress

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
        inventory = self.inventory()
        boxes = sorted({box.jbox_id for box in inventory} | set(telemetry_boxes(self.influx)))
        written = 0
        first_hour = start
        budget = Budget()
        while start < end:
            chunk_end = min(end, start + 24 * HOUR)

            def progress(fraction: float, what: str, s0: int = start, s1: int = chunk_end) -> None:
                if self.progress is not None:
                    self.progress((s0 - first_hour + fraction * (s1 - s0)) / max(1, end - first_hour), what)

            energy = box_hour_energy(
                self.influx, self.config, start, chunk_end, boxes, self.boxes_per_query, progress, budget
            )
            faulty = faulty_boxes(self.influx, start, chunk_end)
            hours = list(range(start, chunk_end, HOUR))
            lines = rollup_lines(energy, faulty, inventory, self.config, hours)
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
