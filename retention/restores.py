"""Restores known to the archive: what a restore wrote into the live database, so passes leave it be.

Without this, a pass after ``jboxmon retention restore`` into the live database would archive the
restored rows a second time (a new file duplicating the old one) and delete them at once, since they
are older than their age. The rule instead:

- A restore into the live database (``influxdb.database``) appends a record to ``_restores.json`` at
  the archive root, before writing: measurement, retention policy, time range, the files it read,
  rows, and when.
- **Held**: for the policy's ``age`` counted from the restore (not from the rows' timestamps), a pass
  neither archives nor deletes anything of that measurement and policy in the hours the record
  covers. The rows are there to be queried; InfluxDB's own retention policy still applies (rows
  older than it are refused at restore time, said by the command).
- **Aged out again**: after that, a pass deletes them like any archived rows, without a new file for
  them: in an hour a record covers, rows identical to rows of the archived files (same series, time
  and field values) are known; only rows that are not (written since, or changed) go into a new file.

Format version 1: ``{"version": 1, "restores": [{"measurement", "retention_policy", "start_ns",
"end_ns", "paths", "rows", "restored_at"}]}``. Records stay: an hour they cover is always compared
with its files first, so late rows there are archived once and restored rows never twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from retention.archive import TIME, decode
from retention.store import ArchiveError, ArchiveStore

LEDGER = "_restores.json"
VERSION = 1
HOUR = 3600 * 1_000_000_000


@dataclass
class RestoreRecord:
    measurement: str
    retention_policy: str
    start_ns: int
    end_ns: int
    restored_at: float
    rows: int = 0
    paths: list[str] = field(default_factory=list)

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        return self.start_ns < end_ns and start_ns < self.end_ns

    def held_until(self, age_s: float) -> float:
        return self.restored_at + age_s

    def hours(self) -> range:
        """The starts of the hours this record touches."""
        return range(self.start_ns // HOUR * HOUR, self.end_ns, HOUR)


def load(store: ArchiveStore) -> list[RestoreRecord]:
    data = store.read_bytes(LEDGER)
    if data is None:
        return []
    document = json.loads(data)
    if document.get("version") != VERSION:
        raise ArchiveError(
            f"{store.url_of(LEDGER)}: restore ledger version {document.get('version')} is not supported "
            f"(expected {VERSION}): upgrade jboxmon",
            retryable=False,
        )
    return [RestoreRecord(**record) for record in document["restores"]]


def append(store: ArchiveStore, record: RestoreRecord) -> None:
    records = load(store) + [record]
    document = {"version": VERSION, "restores": [asdict(r) for r in records]}
    store.write_bytes(LEDGER, json.dumps(document, indent=1).encode())


def covering(records: list[RestoreRecord], measurement: str, retention_policy: str, start_ns: int, end_ns: int):
    """The records of this measurement and policy touching ``[start_ns, end_ns)``."""
    return [
        r
        for r in records
        if r.measurement == measurement and r.retention_policy == retention_policy and r.overlaps(start_ns, end_ns)
    ]


def without_known(store: ArchiveStore, records: list[RestoreRecord], held: pa.Table, start_ns: int, end_ns: int):
    """The rows of ``held`` (what InfluxDB holds of a window) that the records' files do not hold
    identically: same series, time and field values. A file gone missing knows nothing (its rows are
    archived again rather than lost)."""
    if held.num_rows == 0 or not records:
        return held
    known: set[tuple] = set()
    for path in sorted({p for record in records for p in record.paths}):
        data = store.read_bytes(path)
        if data is None:
            continue
        table = decode(data)
        times = table.column(TIME).cast(pa.int64())
        table = table.filter(pc.and_(pc.greater_equal(times, start_ns), pc.less(times, end_ns)))
        known.update(_row_keys(table))
    if not known:
        return held
    mask = pa.array([key not in known for key in _row_keys(held)], pa.bool_())
    return held.filter(mask)


def _row_keys(table: pa.Table):
    """Each row as a hashable tuple of its non-null (column, value) pairs, time as int ns."""
    names = sorted(table.column_names)
    columns = [(table.column(n).cast(pa.int64()) if n == TIME else table.column(n)).to_pylist() for n in names]
    for values in zip(*columns, strict=True):
        yield tuple((n, v) for n, v in zip(names, values, strict=True) if v is not None)
