"""Which hours each archive rule would move out of InfluxDB now, with their row counts.

The cutoff of a rule is ``now - age`` (to the microsecond, rounded up), and never later than what a
downsampling tier reading the same data has aggregated: nothing leaves a source before its tier has it.
Hours without rows are left out (one ``count(*) ... GROUP BY time(1h)`` per rule). The dry run also
estimates the archive's bytes: from the latest archived day of the measurement, or, with no archive
yet, by encoding one hour in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from config.retention import DataRetentionConfig
from retention.archive import Layout, encode, export
from retention.checkpoint import Checkpoints
from retention.downsample import earliest_ns
from retention.manifest import DayManifest
from retention.policy import ArchiveRule, archive_rules
from retention.store import ArchiveStore
from storage import InfluxClient, quote_ident

NS = 1_000_000_000
HOUR = 3600 * NS


@dataclass
class UnitPlan:
    """One hour (or its older part) of one rule, as the dry run lists it."""

    rule: ArchiveRule
    start_ns: int
    end_ns: int
    rows: int = 0
    est_bytes: int | None = None


class Planner:
    def __init__(
        self,
        config: DataRetentionConfig,
        influx: InfluxClient,
        store: ArchiveStore,
        checkpoints: Checkpoints,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.influx = influx
        self.store = store
        self.checkpoints = checkpoints
        self.clock = clock

    def cutoff_ns(self, rule: ArchiveRule) -> int:
        """Rows before this may leave InfluxDB: older than the age, and already downsampled."""
        # microseconds, rounded up: a row older than the age by a fraction of a second goes too
        cutoff = math.ceil((self.clock() - rule.age_s) * 1e6) * 1000
        for tier in self.config.downsample:
            reads_it = (tier.source == "raw" and rule.retention_policy == "raw") or any(
                rule.measurement == f"{m}_{tier.source}" for m in tier.measurements
            )
            if not reads_it:
                continue
            base = rule.measurement if tier.source == "raw" else rule.measurement.rsplit("_", 1)[0]
            if base in tier.measurements:
                cutoff = min(cutoff, self.checkpoints.get(f"{tier.name}/{base}") or 0)
        return cutoff

    def plan(self, estimate_bytes: bool = False) -> list[UnitPlan]:
        """The hours each rule would archive now, with their row counts (hours without rows left out)."""
        units = []
        for rule in archive_rules(self.config):
            cutoff = self.cutoff_ns(rule)
            where = f"time < {cutoff}" + (f" AND {rule.where}" if rule.where else "")
            first = earliest_ns(self.influx, rule.retention_policy, rule.measurement, where)
            if first is None:
                continue
            rule_units = [
                UnitPlan(rule, hour, min(hour + HOUR, cutoff)) for hour in range(first // HOUR * HOUR, cutoff, HOUR)
            ]
            self._count(rule, rule_units, first, cutoff)
            rule_units = [u for u in rule_units if u.rows]
            if estimate_bytes and rule_units:
                bytes_per_row = self._bytes_per_row(rule.measurement) or self._sample_bytes_per_row(rule_units[-1])
                for unit in rule_units:
                    unit.est_bytes = int(unit.rows * bytes_per_row)
            units += rule_units
        return units

    def _count(self, rule: ArchiveRule, units: list[UnitPlan], first: int, cutoff: int) -> None:
        source = f"{quote_ident(rule.retention_policy)}.{quote_ident(rule.measurement)}"
        where = f"time >= {first // HOUR * HOUR} AND time < {cutoff}" + (f" AND {rule.where}" if rule.where else "")
        frame = self.influx.query(f"SELECT count(*) FROM {source} WHERE {where} GROUP BY time(1h) fill(none)")
        per_hour: dict[int, int] = {}
        if not frame.empty:
            counts = frame[[c for c in frame.columns if c.startswith("count_")]].fillna(0).max(axis=1)
            per_hour = dict(zip(frame["time"].astype("int64"), counts.astype(int), strict=True))
        for unit in units:
            unit.rows = per_hour.get(unit.start_ns, 0)

    def _sample_bytes_per_row(self, unit: UnitPlan) -> float:
        """No archive yet: export and encode one hour (in memory only) to measure bytes per row."""
        rule = unit.rule
        layout = Layout.read(self.influx, rule.retention_policy, rule.measurement)
        table = export(self.influx, layout, rule.retention_policy, unit.start_ns, unit.end_ns, rule.where)
        return len(encode(table, self.config.archive.compression_level)) / max(1, table.num_rows)

    def _bytes_per_row(self, measurement: str) -> float | None:
        """Bytes per row of the latest archived day of this measurement, for the dry run's estimate."""
        paths = self.store.glob(f"{measurement}/date=*/manifest.json")
        if not paths:
            return None
        manifest = DayManifest.load(self.store, measurement, paths[-1].split("/")[1].removeprefix("date="))
        rows = sum(e.rows for e in manifest.entries)
        return sum(e.bytes for e in manifest.entries) / rows if rows else None
