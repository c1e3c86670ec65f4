"""One retention pass: downsample, roll usage up, then archive -> verify -> prune, under the lease.

Order matters for safety: downsampling first, and a source is never pruned past the checkpoint of a
tier that reads it (nothing leaves raw before it is aggregated). For each archive rule, every hour
from the oldest row to the cutoff (now - age) is one unit: export, write Parquet, read back and
verify, save the manifest entry (``verified``), then delete from InfluxDB slice by slice, each slice
only while InfluxDB still holds exactly what the file holds, then mark the entry ``pruned``.

SIGKILL anywhere: an orphan file is overwritten by the next pass (same name); a ``verified`` entry
is named in the journal ``_journal.json`` in the store and finished first by the next pass, which
re-exports what InfluxDB still holds of its window and folds any row the file lacks into the file
before deleting. So archived rows + rows in InfluxDB = original rows, and no row is in two files.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from config.retention import DataRetentionConfig
from inventory import Box
from retention.archive import Layout, Slicing, decode, encode, export_sliced
from retention.checkpoint import Checkpoints
from retention.downsample import Downsampler
from retention.lease import Lease
from retention.manifest import DayManifest, Entry, day_of, file_path
from retention.metrics import RetentionMetrics
from retention.plan import Planner, UnitPlan
from retention.prune import DataChanged, Window, prune
from retention.restores import covering, without_known
from retention.restores import load as load_restores
from retention.store import ArchiveStore
from retention.usage import UsageRollup
from retention.verify import sha256, verify
from storage import InfluxClient, InfluxError
from storage.lineprotocol import encode_point
from storage.slicing import Budget

log = logging.getLogger(__name__)
NS = 1_000_000_000
HOUR = 3600 * NS
JOURNAL = "_journal.json"


@dataclass
class PassReport:
    dry_run: bool = False
    units: list[UnitPlan] = field(default_factory=list)
    by_measurement: dict[str, dict[str, int]] = field(default_factory=dict)
    by_tier: dict[str, int] = field(default_factory=dict)  # downsampled points written
    points_downsampled: int = 0
    usage_points: int = 0
    recovered: int = 0
    seconds: float = 0.0

    def add(self, measurement: str, **counts: int) -> None:
        """Count rows_archived, bytes_archived, files or rows_deleted for one measurement."""
        mine = self.by_measurement.setdefault(measurement, {})
        for name, value in counts.items():
            mine[name] = mine.get(name, 0) + value

    def total(self, name: str) -> int:
        return sum(counts.get(name, 0) for counts in self.by_measurement.values())

    @property
    def rows_archived(self) -> int:
        return self.total("rows_archived")

    @property
    def bytes_archived(self) -> int:
        return self.total("bytes_archived")

    @property
    def rows_deleted(self) -> int:
        return self.total("rows_deleted")

    @property
    def files(self) -> int:
        return self.total("files")


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    downsample: bool = True
    usage: bool = True


Progress = Callable[[float, str], None]  # (fraction of the current stage done, what the stage is)


class RetentionRunner:
    """Runs passes; construct per process, ``run()`` takes the lease for the duration of one pass."""

    def __init__(
        self,
        config: DataRetentionConfig,
        influx: InfluxClient,
        store: ArchiveStore,
        *,
        metrics: RetentionMetrics | None = None,
        clock: Callable[[], float] = time.time,
        inventory: Callable[[], list[Box]] = list,
        progress: Progress = lambda fraction, what: None,
        lock: Callable[[], Lease] | None = None,
    ) -> None:
        """``lock`` makes the exclusion for one pass (``retention.pglock.AdvisoryLock`` when the
        inventory is on PostgreSQL); by default the archive lease."""
        self.config = config
        self.influx = influx
        self.store = store
        self.metrics = metrics or RetentionMetrics()
        self.clock = clock
        self.inventory = inventory
        self.progress = progress
        self.checkpoints = Checkpoints(config.state_dir)
        self.planner = Planner(config, influx, store, self.checkpoints, clock)
        self.slicing = Slicing(config.queries.slice, config.queries.boxes)
        self.export_budget = Budget()  # what InfluxDB answers in time, learnt across the pass's exports
        self._lease: Lease | None = None
        self._lock = lock or (lambda: Lease(self.store, self.config.state_dir, self.config.lease_ttl, self.clock))

    def run(self, options: RunOptions = RunOptions()) -> PassReport:
        started = time.monotonic()
        report = PassReport(dry_run=options.dry_run)
        self.checkpoints.load()
        try:
            with self._lock() as lease:
                self._lease = lease
                if options.dry_run:
                    report.units = self._dry_plan(options)
                else:
                    self._pass(report, options)
        except Exception:
            self.metrics.failures.inc()
            raise
        finally:
            self._lease = None
        report.seconds = time.monotonic() - started
        if not options.dry_run:
            self.metrics.record(report)
            self.metrics.pass_duration.set(report.seconds)
            self.metrics.last_success.set(self.clock())
            self._record(report)
        return report

    def _record(self, report: PassReport) -> None:
        """The pass as a point of ``retention_pass`` (policy ``ds_1h``), for Grafana; best effort."""
        fields = {
            "rows_archived": report.rows_archived,
            "bytes_archived": report.bytes_archived,
            "rows_deleted": report.rows_deleted,
            "files": report.files,
            "points_downsampled": report.points_downsampled,
            "recovered": report.recovered,
            "duration_s": float(report.seconds),
        }
        try:
            self.influx.write(
                [encode_point("retention_pass", {}, fields, int(self.clock() * NS))], retention_policy="ds_1h"
            )
        except InfluxError as exc:
            log.warning("could not record the retention pass in InfluxDB: %s", exc)

    def _downsampler(self, checkpoints: Checkpoints, report: PassReport, dry_run: bool = False) -> Downsampler:
        return Downsampler(
            self.influx,
            self.config.downsample,
            checkpoints,
            self.config.late_windows,
            self.clock,
            on_points=lambda tier, n: report.by_tier.__setitem__(tier, report.by_tier.get(tier, 0) + n),
            slice_s=self.config.queries.slice,
            boxes_per_query=self.config.queries.boxes,
            progress=self.progress,
            dry_run=dry_run,
        )

    def _dry_plan(self, options: RunOptions) -> list[UnitPlan]:
        """The pass's plan without a write: the same planner, fed the checkpoints downsampling would
        leave (moved in memory only), so it lists the same hours and rows the pass archives."""
        checkpoints = self.checkpoints.in_memory()
        if options.downsample and self.config.downsample:
            self._downsampler(checkpoints, PassReport(dry_run=True), dry_run=True).run()
        planner = Planner(self.config, self.influx, self.store, checkpoints, self.clock)
        return planner.plan(estimate_bytes=True)

    def _pass(self, report: PassReport, options: RunOptions) -> None:
        if options.downsample and self.config.downsample:
            report.points_downsampled = self._downsampler(self.checkpoints, report).run()
        if options.usage and self.config.usage.enabled:
            usage = UsageRollup(
                self.influx,
                self.config.usage,
                self.checkpoints,
                self.config.late_windows,
                self.clock,
                self.inventory,
                boxes_per_query=self.config.queries.boxes,
                progress=self.progress,
            )
            report.usage_points = usage.run()
        report.recovered = self._recover(report)
        units = self.planner.plan()
        for done, unit in enumerate(units):
            self.progress(done / len(units), f"archive {unit.rule.measurement} {day_of(unit.start_ns)}")
            self._archive_unit(unit, report)
        self.progress(1.0, "done")
        report.units = units

    # -- one unit --------------------------------------------------------------------------------

    def _archive_unit(self, unit: UnitPlan, report: PassReport) -> None:
        assert self._lease is not None
        self._lease.check()  # renews it: a long pass keeps its lease between deletes too
        rule = unit.rule
        window = Window(rule.measurement, rule.retention_policy, unit.start_ns, unit.end_ns, rule.where)
        layout = Layout.read(self.influx, rule.retention_policy, rule.measurement)
        table = export_sliced(
            self.influx,
            layout,
            rule.retention_policy,
            unit.start_ns,
            unit.end_ns,
            rule.where,
            self.slicing,
            self.export_budget,
        )
        if table.num_rows == 0:
            return
        manifest = DayManifest.load(self.store, rule.measurement, day_of(unit.start_ns))
        fresh = without_known(self.store, unit.restores, table, unit.start_ns, unit.end_ns)
        if fresh.num_rows == 0:  # restored rows aged out again: already archived, only deleted
            self._prune_known(window, table, report)
            return
        hour = unit.start_ns // HOUR * HOUR
        seq = manifest.next_seq(rule.retention_policy, rule.key, hour)
        entry = self._write_verified(fresh, window, rule.key, seq, hour, manifest)
        report.add(rule.measurement, rows_archived=entry.rows, bytes_archived=entry.bytes, files=1)
        self._prune(entry, window, table, manifest, report)

    def _write_verified(
        self, table: pa.Table, window: Window, key: str, seq: int, hour: int, manifest: DayManifest
    ) -> Entry:
        path = file_path(window.measurement, window.retention_policy, key, hour, seq)
        data = encode(table, self.config.archive.compression_level)
        checksum = sha256(data)
        self.store.write_bytes(path, data)
        verify(self.store, path, table, checksum)
        times = table.column("time").cast(pa.int64())
        entry = Entry(
            path=path,
            retention_policy=window.retention_policy,
            key=key,
            where=window.where,
            seq=seq,
            start_ns=window.start_ns,
            end_ns=window.end_ns,
            rows=table.num_rows,
            bytes=len(data),
            min_time_ns=int(pa.compute.min(times).as_py()),
            max_time_ns=int(pa.compute.max(times).as_py()),
            sha256=checksum,
            schema_version=1,
            state="verified",
            archived_at=self.clock(),
        )
        manifest.put(entry)
        # the journal first: a crash between the two leaves a journal naming an entry not yet saved,
        # which recovery ignores; the other order could leave a verified entry nobody finishes
        self._journal(entry)
        manifest.save(self.store)
        return entry

    def _prune(
        self,
        entry: Entry,
        window: Window,
        held: pa.Table,
        manifest: DayManifest,
        report: PassReport,
        recovering: bool = False,
    ) -> None:
        assert self._lease is not None
        try:
            deleted = prune(self.influx, window, held, self.config.delete_slice, self._lease.check)
        except DataChanged as exc:
            # rows arrived since the export: fold them into the file now (once), else next pass
            log.warning("%s", exc)
            if not recovering:
                report.recovered += self._recover(report)
            return
        entry.state = "pruned"
        entry.pruned_at = self.clock()
        manifest.put(entry)
        manifest.save(self.store)
        self.store.delete(JOURNAL)
        report.add(window.measurement, rows_deleted=deleted)

    def _prune_known(self, window: Window, held: pa.Table, report: PassReport) -> None:
        """Delete rows every one of which is in an archived file already (a restore's, aged out)."""
        assert self._lease is not None
        try:
            deleted = prune(self.influx, window, held, self.config.delete_slice, self._lease.check)
        except DataChanged as exc:
            log.warning("%s", exc)  # rows arrived since the export: the next pass archives them
            return
        report.add(window.measurement, rows_deleted=deleted)

    def _journal(self, entry: Entry) -> None:
        document = {
            "version": 1,
            "measurement": entry.path.split("/")[0],
            "date": day_of(entry.start_ns),
            "path": entry.path,
        }
        self.store.write_bytes(JOURNAL, json.dumps(document).encode())

    # -- recovery --------------------------------------------------------------------------------

    def _recover(self, report: PassReport) -> int:
        """Finish the unit a previous pass left ``verified`` (named in the journal); returns 0 or 1."""
        data = self.store.read_bytes(JOURNAL)
        if not data:
            return 0
        note = json.loads(data)
        manifest = DayManifest.load(self.store, note["measurement"], note["date"])
        entry = next((e for e in manifest.entries if e.path == note["path"]), None)
        if entry is None or entry.state == "pruned":
            self.store.delete(JOURNAL)
            return 0
        window = Window(note["measurement"], entry.retention_policy, entry.start_ns, entry.end_ns, entry.where)
        layout = Layout.read(self.influx, entry.retention_policy, window.measurement)
        held = export_sliced(
            self.influx,
            layout,
            entry.retention_policy,
            entry.start_ns,
            entry.end_ns,
            entry.where,
            self.slicing,
            self.export_budget,
        )
        file_data = self.store.read_bytes(entry.path)
        archived = decode(file_data) if file_data is not None else held.schema.empty_table()
        records = covering(
            load_restores(self.store), window.measurement, entry.retention_policy, entry.start_ns, entry.end_ns
        )
        union = merge_rows(archived, without_known(self.store, records, held, entry.start_ns, entry.end_ns))
        if union.num_rows != archived.num_rows or file_data is None or sha256(file_data) != entry.sha256:
            # rows arrived (or the file is damaged): rewrite the same file with everything, verify again
            hour = entry.start_ns // HOUR * HOUR
            old_rows, old_bytes = archived.num_rows, entry.bytes if file_data is not None else 0
            entry = self._write_verified(union, window, entry.key, entry.seq, hour, manifest)
            report.add(window.measurement, rows_archived=entry.rows - old_rows, bytes_archived=entry.bytes - old_bytes)
            log.info("re-archived %s with %d rows", entry.path, entry.rows)
        self._prune(entry, window, held, manifest, report, recovering=True)
        return 1


def merge_rows(archived: pa.Table, held: pa.Table) -> pa.Table:
    """Archived rows plus the rows InfluxDB holds now; for one key (series, time) InfluxDB's row wins.

    The result has the union of both layouts (a field or tag that appeared since keeps its type).
    """
    if held.num_rows == 0:
        return archived
    old, new = Layout.of(archived), Layout.of(held)
    fields = dict(old.fields) | dict(new.fields)
    layout = Layout(new.measurement, tuple(sorted(set(old.tags) | set(new.tags))), tuple(sorted(fields.items())))
    both = pa.concat_tables(
        [archived.replace_schema_metadata(None), held.replace_schema_metadata(None)], promote_options="default"
    )
    keys = both.select(["time", *layout.tags]).to_pandas()
    keep = np.flatnonzero(~keys.duplicated(keep="last").to_numpy())
    merged = both.take(keep).sort_by([("time", "ascending")])
    schema = layout.schema()
    return merged.select(schema.names).cast(schema)
