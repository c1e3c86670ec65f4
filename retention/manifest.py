"""The archive manifest: which Parquet file holds which rows, and whether InfluxDB still has them.

One JSON document per measurement and day, ``<measurement>/date=YYYY-MM-DD/manifest.json``, beside
the files it lists (``hour=HH/<rp>-<key>-<seq>.parquet``). Format version 1::

    {"version": 1, "measurement": "log", "date": "2026-11-29",
     "entries": [{"path": ..., "retention_policy": "logs", "key": "level-other", "where": "...",
                  "seq": 0, "start_ns": ..., "end_ns": ..., "rows": 1200, "bytes": 5321,
                  "min_time_ns": ..., "max_time_ns": ..., "sha256": "...", "schema_version": 1,
                  "state": "verified" | "pruned", "archived_at": ..., "pruned_at": ...}]}

Crash story: a file is written (atomically), read back and verified, THEN its entry is saved as
``verified``; only then are its rows deleted from InfluxDB, and the entry becomes ``pruned``. A file
without an entry is an orphan from a crash: the next pass rewrites the same name (same ``seq``), so
it is never listed twice. An entry left ``verified`` is finished by the next pass, which first
re-exports what InfluxDB still holds of its window and folds any row the file lacks into it.

No duplicates: entries of one (policy, key) never overlap in time, except files of the same hour
written after the previous one was pruned (late data), whose rows InfluxDB did not hold before;
:func:`duplicate_keys` proves it on the files themselves.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from retention.store import ArchiveStore

VERSION = 1
NS = 1_000_000_000


@dataclass
class Entry:
    path: str
    retention_policy: str
    key: str
    where: str
    seq: int
    start_ns: int
    end_ns: int
    rows: int
    bytes: int
    min_time_ns: int
    max_time_ns: int
    sha256: str
    schema_version: int
    state: str = "verified"
    archived_at: float = 0.0
    pruned_at: float | None = None


@dataclass
class DayManifest:
    measurement: str
    date: str
    entries: list[Entry] = field(default_factory=list)

    @staticmethod
    def path_of(measurement: str, date: str) -> str:
        return f"{measurement}/date={date}/manifest.json"

    @classmethod
    def load(cls, store: ArchiveStore, measurement: str, date: str) -> DayManifest:
        data = store.read_bytes(cls.path_of(measurement, date))
        if data is None:
            return cls(measurement, date)
        document = json.loads(data)
        if document.get("version") != VERSION:
            raise ValueError(f"manifest {cls.path_of(measurement, date)}: version {document.get('version')} unknown")
        return cls(measurement, date, [Entry(**entry) for entry in document["entries"]])

    def save(self, store: ArchiveStore) -> None:
        document = {
            "version": VERSION,
            "measurement": self.measurement,
            "date": self.date,
            "entries": [asdict(entry) for entry in sorted(self.entries, key=lambda e: e.path)],
        }
        store.write_bytes(self.path_of(self.measurement, self.date), json.dumps(document, indent=1).encode())

    def put(self, entry: Entry) -> None:
        self.entries = [e for e in self.entries if e.path != entry.path] + [entry]

    def next_seq(self, retention_policy: str, key: str, hour_start_ns: int) -> int:
        hour = hour_dir(hour_start_ns)
        same = [
            e.seq
            for e in self.entries
            if e.retention_policy == retention_policy and e.key == key and f"/{hour}/" in e.path
        ]
        return max(same, default=-1) + 1


def day_of(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%d")


def hour_dir(ns: int) -> str:
    return "hour=" + datetime.fromtimestamp(ns / NS, UTC).strftime("%H")


def file_path(measurement: str, retention_policy: str, key: str, hour_start_ns: int, seq: int) -> str:
    folder = f"{measurement}/date={day_of(hour_start_ns)}/{hour_dir(hour_start_ns)}"
    return f"{folder}/{retention_policy}-{key}-{seq:04d}.parquet"


def days_between(start_ns: int, end_ns: int) -> list[str]:
    """Every date touched by ``[start_ns, end_ns)``."""
    days = []
    day = start_ns - start_ns % (86400 * NS)
    while day < end_ns:
        days.append(day_of(day))
        day += 86400 * NS
    return days


def all_manifests(store: ArchiveStore, measurement: str | None = None) -> list[DayManifest]:
    pattern = f"{measurement or '*'}/date=*/manifest.json"
    manifests = []
    for path in store.glob(pattern):
        name, date_part = path.split("/")[:2]
        manifests.append(DayManifest.load(store, name, date_part.removeprefix("date=")))
    return manifests


def duplicate_keys(store: ArchiveStore, measurement: str) -> int:
    """How many (series, time) keys appear in more than one row of the measurement's listed files."""
    from retention.archive import TIME, Layout, decode

    tables = []
    for manifest in all_manifests(store, measurement):
        for entry in manifest.entries:
            data = store.read_bytes(entry.path)
            if data is None:
                raise ValueError(f"{entry.path} is listed in the manifest but missing")
            table = decode(data)
            layout = Layout.of(table)
            key_columns = [TIME, *layout.tags]
            tables.append(table.select(key_columns))
    if not tables:
        return 0
    keys = pa.concat_tables(tables, promote_options="default")
    grouped = keys.group_by([c for c in keys.column_names]).aggregate([([], "count_all")])
    return int(pc.sum(pc.subtract(grouped.column("count_all"), 1)).as_py() or 0)
