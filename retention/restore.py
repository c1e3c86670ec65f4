"""Re-import archived rows into InfluxDB, identically: same measurement, tags, fields (types kept),
timestamps and retention policy; into the original database or another one (backtests over old
history). Reads only files listed in the manifest, in order, so a later file (late data) wins for a
key exactly as the later write did in InfluxDB.

Into the live database (``live``) the restore is first recorded in the archive's restore ledger
(``retention/restores.py``): passes then hold the restored rows for their age and never archive
them a second time. Rows older than their InfluxDB retention policy (``oldest_ns``) would be refused
by InfluxDB; they are left out and counted (``skipped``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from retention.archive import TIME, decode, to_lines
from retention.manifest import DayManifest, Entry, day_of
from retention.restores import RestoreRecord, append
from retention.store import ArchiveError, ArchiveStore
from retention.verify import sha256
from storage import InfluxClient

BATCH = 5000


@dataclass(frozen=True)
class RestoreOptions:
    measurement: str
    start_ns: int
    end_ns: int
    database: str | None = None  # None: the configured database
    live: bool = False  # into the live database: recorded, so passes hold the rows and never re-archive them
    oldest_ns: dict[str, int] = field(default_factory=dict)  # per retention policy: older rows are refused


@dataclass
class RestoreReport:
    files: int = 0
    rows: int = 0
    skipped: int = 0  # older than their retention policy: InfluxDB would refuse them


def entries_to_restore(store: ArchiveStore, options: RestoreOptions) -> list[Entry]:
    """The manifest entries holding rows of the range, in restore order."""
    found = []
    first, last = day_of(options.start_ns), day_of(max(options.start_ns, options.end_ns - 1))
    for path in store.glob(f"{options.measurement}/date=*/manifest.json"):
        date = path.split("/")[1].removeprefix("date=")
        if not first <= date <= last:
            continue
        manifest = DayManifest.load(store, options.measurement, date)
        for entry in sorted(manifest.entries, key=lambda e: (e.path.rsplit("/", 1)[0], e.seq, e.path)):
            if entry.max_time_ns < options.start_ns or entry.min_time_ns >= options.end_ns:
                continue
            found.append(entry)
    return found


def restore(store: ArchiveStore, influx: InfluxClient, options: RestoreOptions) -> RestoreReport:
    """Write back every archived row of ``measurement`` with ``start_ns <= time < end_ns``."""
    report = RestoreReport()
    entries = entries_to_restore(store, options)
    if options.live:  # recorded before writing: a crash in between only holds hours that hold nothing
        for policy in sorted({e.retention_policy for e in entries}):
            paths = [e.path for e in entries if e.retention_policy == policy]
            rows = sum(e.rows for e in entries if e.retention_policy == policy)
            record = RestoreRecord(
                options.measurement, policy, options.start_ns, options.end_ns, time.time(), rows, paths
            )
            append(store, record)
    for entry in entries:
        data = store.read_bytes(entry.path)
        if data is None or sha256(data) != entry.sha256:
            raise ArchiveError(f"{store.url_of(entry.path)} is missing or damaged (sha256)", retryable=False)
        table = decode(data)
        times = table.column(TIME).cast(pa.int64())
        oldest = max(options.start_ns, options.oldest_ns.get(entry.retention_policy, 0))
        within = pc.and_(pc.greater_equal(times, options.start_ns), pc.less(times, options.end_ns))
        kept = pc.and_(within, pc.greater_equal(times, oldest))
        report.skipped += (pc.sum(within).as_py() or 0) - (pc.sum(kept).as_py() or 0)
        lines = list(to_lines(table.filter(kept)))
        for start in range(0, len(lines), BATCH):
            influx.write(
                lines[start : start + BATCH], database=options.database, retention_policy=entry.retention_policy
            )
        report.files += 1
        report.rows += len(lines)
    return report
