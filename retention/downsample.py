"""Downsampling tiers: mean, min, max and count per numeric field and series, as ordinary points.

Computed with InfluxQL aggregates and written back with ``/write`` (no continuous queries, so it works
the same on InfluxDB 1.x, 2.x and 3.x). Tier ``1m`` reads ``raw.telemetry`` and writes
``ds_1m.telemetry_1m`` with fields ``<f>_mean``, ``<f>_min``, ``<f>_max``, ``<f>_count``; a tier
reading an earlier tier combines those (mean weighted by count) so every tier stays exact.

Idempotent: a window's point has the window's start as timestamp and the source series' tags, so
rewriting it replaces it. Each pass starts ``late_windows`` windows before the checkpoint, taking late
data; the checkpoint only moves over complete windows, slice by slice.

Queries stay small: a time slice (``retention.queries.slice``, at least 24 windows) for a batch of
``retention.queries.boxes`` boxes each; a piece InfluxDB is too slow for is halved (storage.slicing).
A dry run moves the checkpoints in memory only (the planner then sees what the pass would leave).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from config.retention import Tier
from retention.archive import Layout
from retention.checkpoint import Checkpoints
from storage import InfluxClient, quote_ident
from storage.lineprotocol import encode_point
from storage.slicing import Budget, Piece, Progress, plan_pieces, run_pieces

log = logging.getLogger(__name__)
NS = 1_000_000_000
NUMERIC = ("float", "integer")
MIN_WINDOWS_PER_SLICE = 24
AGGREGATES = ("mean", "min", "max", "count")


@dataclass(frozen=True)
class TierSource:
    retention_policy: str
    measurement: str
    cascaded: bool  # reading an earlier tier's <f>_mean/_min/_max/_count


def source_of(tier: Tier, tiers: list[Tier], measurement: str) -> TierSource:
    if tier.source == "raw":
        return TierSource("raw", measurement, False)
    earlier = next(t for t in tiers if t.name == tier.source)
    return TierSource(earlier.retention_policy, f"{measurement}_{earlier.name}", True)


def aggregate_query(
    tier: Tier, source: TierSource, fields: list[str], start_ns: int, end_ns: int, boxes: str = ""
) -> str:
    """The InfluxQL aggregating ``[start_ns, end_ns)``; ``boxes`` a tag condition (a batch) or ""."""
    every = f"{int(tier.every * 1000)}ms"
    where = f"time >= {start_ns} AND time < {end_ns}" + (f" AND {boxes}" if boxes else "")
    origin = f"{quote_ident(source.retention_policy)}.{quote_ident(source.measurement)}"
    if not source.cascaded:
        parts = [f"{agg}({quote_ident(f)}) AS {quote_ident(f'{f}_{agg}')}" for f in fields for agg in AGGREGATES]
        return f"SELECT {', '.join(parts)} FROM {origin} WHERE {where} GROUP BY time({every}), * fill(none)"
    inner = []
    outer = []
    for i, f in enumerate(fields):
        mean, low, high, count = (quote_ident(f"{f}_{agg}") for agg in AGGREGATES)
        # inner columns get names of their own: InfluxDB 1.6 mislabels outer columns aliased like inner ones
        w, c, lo, hi = (f"_{kind}{i}" for kind in ("w", "c", "lo", "hi"))
        inner += [f"{mean} * {count} AS {w}", f"{count} AS {c}", f"{low} AS {lo}", f"{high} AS {hi}"]
        outer += [
            f"sum({w}) / sum({c}) AS {mean}",
            f"min({lo}) AS {low}",
            f"max({hi}) AS {high}",
            f"sum({c}) AS {count}",
        ]
    subquery = f"SELECT {', '.join(inner)} FROM {origin} WHERE {where} GROUP BY *"
    return f"SELECT {', '.join(outer)} FROM ({subquery}) WHERE {where} GROUP BY time({every}), * fill(none)"


def numeric_fields(influx: InfluxClient, source: TierSource) -> list[str]:
    layout = Layout.read(influx, source.retention_policy, source.measurement)
    if not source.cascaded:
        return [name for name, kind in layout.fields if kind in NUMERIC]
    return sorted({name.rsplit("_", 1)[0] for name, _ in layout.fields if name.endswith("_count")})


def earliest_ns(influx: InfluxClient, retention_policy: str, measurement: str, where: str = "") -> int | None:
    source = f"{quote_ident(retention_policy)}.{quote_ident(measurement)}"
    condition = f" WHERE {where}" if where else ""
    results = influx.query_raw(f"SELECT * FROM {source}{condition} ORDER BY time ASC LIMIT 1")
    series = results[0].get("series", []) if results else []
    return int(series[0]["values"][0][0]) if series else None


def series_boxes(influx: InfluxClient, source: TierSource) -> list[str]:
    """The ``jbox_id`` values of the source's series (the box batches of the queries)."""
    origin = f"{quote_ident(source.retention_policy)}.{quote_ident(source.measurement)}"
    results = influx.query_raw(f'SHOW TAG VALUES FROM {origin} WITH KEY = "jbox_id"')
    return [row[1] for series in results[0].get("series", []) for row in series.get("values") or []]


class Downsampler:
    """Runs every tier for its measurements, moving each checkpoint over complete windows."""

    def __init__(
        self,
        influx: InfluxClient,
        tiers: list[Tier],
        checkpoints: Checkpoints,
        late_windows: int,
        clock: Callable[[], float],
        on_points: Callable[[str, int], None] = lambda tier, n: None,
        *,
        slice_s: float = 3600,
        boxes_per_query: int = 500,
        progress: Progress | None = None,
        dry_run: bool = False,
    ) -> None:
        self.influx = influx
        self.tiers = tiers
        self.checkpoints = checkpoints
        self.late_windows = late_windows
        self.clock = clock
        self.on_points = on_points
        self.slice_s = slice_s
        self.boxes_per_query = boxes_per_query
        self.progress = progress
        self.dry_run = dry_run  # only move the checkpoints (in memory), as the pass would

    def run(self) -> int:
        written = 0
        for tier in self.tiers:
            for measurement in tier.measurements:
                written += self.run_one(tier, measurement)
        return written

    def run_one(self, tier: Tier, measurement: str) -> int:
        source = source_of(tier, self.tiers, measurement)
        step = int(tier.every * NS)
        # only complete windows; a cascaded tier only up to its source tier's checkpoint
        end = int(self.clock() * NS) // step * step
        if source.cascaded:
            end = min(end, (self.checkpoints.get(f"{tier.source}/{measurement}") or 0) // step * step)
        key = f"{tier.name}/{measurement}"
        done = self.checkpoints.get(key)
        if done is None:
            first = earliest_ns(self.influx, source.retention_policy, source.measurement)
            if first is None:
                return 0
            start = first // step * step
        else:
            start = max(0, done - self.late_windows * step)
        fields = numeric_fields(self.influx, source)
        if not fields:
            return 0
        if self.dry_run:
            if start < end:
                self.checkpoints.set(key, max(end, done or 0))
            return 0
        boxes = series_boxes(self.influx, source)
        slice_ns = max(int(self.slice_s * NS), MIN_WINDOWS_PER_SLICE * step) // step * step
        written = 0
        first = start
        what = f"downsample {tier.name}/{measurement}"
        budget = Budget()
        while start < end:
            chunk_end = min(end, (start // slice_ns + 1) * slice_ns)

            def progress(fraction: float, _: str, s0: int = start, s1: int = chunk_end) -> None:
                if self.progress is not None:
                    self.progress((s0 - first + fraction * (s1 - s0)) / max(1, end - first), what)

            pieces = plan_pieces(start, chunk_end, slice_ns, boxes, self.boxes_per_query)
            counts = run_pieces(
                pieces,
                lambda piece: self._aggregate(tier, source, measurement, fields, piece),
                align_ns=step,
                progress=progress,
                what=what,
                budget=budget,
            )
            written += sum(counts)
            self.checkpoints.set(key, max(chunk_end, done or 0))
            start = chunk_end
        return written

    def _aggregate(self, tier: Tier, source: TierSource, measurement: str, fields: list[str], piece: Piece) -> int:
        query = aggregate_query(tier, source, fields, piece.start_ns, piece.end_ns, piece.box_condition())
        results = self.influx.query_raw(query)
        lines = []
        target = f"{measurement}_{tier.name}"
        for series in results[0].get("series", []) if results else []:
            tags = {k: v for k, v in (series.get("tags") or {}).items() if v}
            columns = series["columns"]
            for row in series.get("values") or []:
                values = {}
                for name, value in zip(columns[1:], row[1:], strict=True):
                    if value is None:
                        continue
                    values[name] = int(value) if name.endswith("_count") else float(value)
                line = encode_point(target, tags, values, int(row[0]))
                if line:
                    lines.append(line)
        if lines:
            self.influx.write_batches(lines, batch_size=5000, retention_policy=tier.retention_policy)
            self.on_points(tier.name, len(lines))
        return len(lines)
