"""Which hours each archive rule would move out of InfluxDB now, with their row counts.

The cutoff of a rule is ``now - age`` (to the microsecond, rounded up), and never later than what a
downsampling tier reading the same data has aggregated: nothing leaves a source before its tier has it.
Hours without rows are left out (one ``count(*) ... GROUP BY time(1h)`` per rule), and so are hours
a restore into the live database holds (``retention/restores.py``); an hour a restore covered whose
hold has ended carries its records (``UnitPlan.restores``), so its restored rows are not archived twice.

The pass and its dry run use this same planner; the dry run feeds it the checkpoints downsampling
would leave, and estimates each hour's Parquet bytes from the rule's largest hour encoded in memory,
whole and an eighth of it (a size per file plus a size per row: small files cost more per row).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from config.retention import DataRetentionConfig
from retention.archive import Layout, Slicing, encode, export_sliced
from retention.checkpoint import Checkpoints
from retention.downsample import earliest_ns
from retention.policy import ArchiveRule, archive_rules
from retention.restores import RestoreRecord, covering
from retention.restores import load as load_restores
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
    restores: list[RestoreRecord] = field(default_factory=list)  # restores whose hold ended, covering it


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
        restores = load_restores(self.store)
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
            rule_units = [u for u in rule_units if u.rows and not self._held(u, restores)]
            if estimate_bytes and rule_units:
                fixed, per_row = self._size_model(max(rule_units, key=lambda u: u.rows))
                for unit in rule_units:
                    unit.est_bytes = int(fixed + unit.rows * per_row)
            units += rule_units
        return units

    def _held(self, unit: UnitPlan, restores: list[RestoreRecord]) -> bool:
        """True while a restore holds the unit's hour; else notes the restores whose hold ended."""
        rule = unit.rule
        records = covering(restores, rule.measurement, rule.retention_policy, unit.start_ns, unit.end_ns)
        now = self.clock()
        if any(record.held_until(rule.age_s) > now for record in records):
            return True
        unit.restores = records
        return False

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

    def _size_model(self, unit: UnitPlan) -> tuple[float, float]:
        """(bytes per file, bytes per row) of this rule's Parquet files, from the unit with the most
        rows encoded in memory whole and an eighth of it: small files cost more per row."""
        rule = unit.rule
        layout = Layout.read(self.influx, rule.retention_policy, rule.measurement)
        table = export_sliced(
            self.influx,
            layout,
            rule.retention_policy,
            unit.start_ns,
            unit.end_ns,
            rule.where,
            Slicing(self.config.queries.slice, self.config.queries.boxes),
        )
        rows = table.num_rows
        whole = len(encode(table, self.config.archive.compression_level))
        part_rows = max(1, rows // 8)
        part = len(encode(table.slice(0, part_rows), self.config.archive.compression_level))
        if rows <= part_rows:
            return 0.0, whole / max(1, rows)
        per_row = max(0.0, (whole - part) / (rows - part_rows))
        return max(0.0, whole - per_row * rows), per_row
