"""Re-import archived rows into InfluxDB, identically: same measurement, tags, fields (types kept),
timestamps and retention policy; into the original database or another one (backtests over old
history). Reads only files listed in the manifest, in order, so a later file (late data) wins for a
key exactly as the later write did in InfluxDB.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from retention.archive import TIME, decode, to_lines
from retention.manifest import DayManifest, day_of
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


@dataclass
class RestoreReport:
    files: int = 0
    rows: int = 0


def restore(store: ArchiveStore, influx: InfluxClient, options: RestoreOptions) -> RestoreReport:
    """Write back every archived row of ``measurement`` with ``start_ns <= time < end_ns``."""
    report = RestoreReport()
    first, last = day_of(options.start_ns), day_of(max(options.start_ns, options.end_ns - 1))
    for path in store.glob(f"{options.measurement}/date=*/manifest.json"):
        date = path.split("/")[1].removeprefix("date=")
        if not first <= date <= last:
            continue
        manifest = DayManifest.load(store, options.measurement, date)
        for entry in sorted(manifest.entries, key=lambda e: (e.path.rsplit("/", 1)[0], e.seq, e.path)):
            if entry.max_time_ns < options.start_ns or entry.min_time_ns >= options.end_ns:
                continue
            data = store.read_bytes(entry.path)
            if data is None or sha256(data) != entry.sha256:
                raise ArchiveError(f"{store.url_of(entry.path)} is missing or damaged (sha256)", retryable=False)
            table = decode(data)
            times = table.column(TIME).cast(pa.int64())
            inside = pc.and_(pc.greater_equal(times, options.start_ns), pc.less(times, options.end_ns))
            table = table.filter(inside)
            lines = list(to_lines(table))
            for start in range(0, len(lines), BATCH):
                influx.write(
                    lines[start : start + BATCH], database=options.database, retention_policy=entry.retention_policy
                )
            report.files += 1
            report.rows += len(lines)
    return report
