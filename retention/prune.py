"""Delete archived rows from InfluxDB, in bounded time slices, each only after proving it is archived.

InfluxDB 1.x ``DELETE`` takes time and tag conditions (never field conditions, hence the ``level``
tag for logs) and cannot name a retention policy: it deletes from EVERY policy of the database.
:func:`other_policies_hold` guards that: jboxmon's downsampled copies live under other measurement
names (``telemetry_1m``), and a measurement found in another policy inside the window stops the prune.

Before each slice, the per-field counts InfluxDB holds are compared with the archived file's: a row
that arrived since the export (late data) makes them differ, the slice is left alone and the unit is
re-archived on the next pass. What remains is the moment between that count and the DELETE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retention.archive import TIME, Layout
from retention.store import ArchiveError
from storage import InfluxClient, quote_ident

NS = 1_000_000_000


class DataChanged(ArchiveError):
    """InfluxDB holds rows the archive does not: re-archive before deleting (retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


@dataclass(frozen=True)
class Window:
    measurement: str
    retention_policy: str
    start_ns: int
    end_ns: int
    where: str = ""

    def condition(self, start_ns: int | None = None, end_ns: int | None = None) -> str:
        start = self.start_ns if start_ns is None else start_ns
        end = self.end_ns if end_ns is None else end_ns
        return f"time >= {start} AND time < {end}" + (f" AND {self.where}" if self.where else "")

    @property
    def source(self) -> str:
        return f"{quote_ident(self.retention_policy)}.{quote_ident(self.measurement)}"


def field_counts(influx: InfluxClient, window: Window, start_ns: int, end_ns: int) -> dict[str, int]:
    """Non-null values per field InfluxDB holds in a slice of the window."""
    results = influx.query_raw(f"SELECT count(*) FROM {window.source} WHERE {window.condition(start_ns, end_ns)}")
    counts: dict[str, int] = {}
    for series in results[0].get("series", []) if results else []:
        for column, value in zip(series["columns"], series["values"][0], strict=True):
            if column.startswith("count_") and value:
                counts[column.removeprefix("count_")] = int(value)
    return counts


def archived_counts(table: pa.Table, layout: Layout, start_ns: int, end_ns: int) -> dict[str, int]:
    times = table.column(TIME).cast(pa.int64()).to_numpy()
    inside = (times >= start_ns) & (times < end_ns)
    counts = {}
    for name, _ in layout.fields:
        valid = table.column(name).is_valid().to_numpy(zero_copy_only=False)
        n = int(np.count_nonzero(valid & inside))
        if n:
            counts[name] = n
    return counts


def other_policies_hold(influx: InfluxClient, window: Window) -> list[str]:
    """Other retention policies holding this measurement inside the window (a DELETE would hit them)."""
    results = influx.query_raw(f"SHOW RETENTION POLICIES ON {quote_ident(influx.settings.database)}")
    names = [row[0] for series in results[0].get("series", []) for row in series.get("values") or []]
    holding = []
    for name in names:
        if name == window.retention_policy:
            continue
        other = Window(window.measurement, name, window.start_ns, window.end_ns)
        if field_counts(influx, other, window.start_ns, window.end_ns):
            holding.append(name)
    return holding


def prune(
    influx: InfluxClient,
    window: Window,
    archived: pa.Table,
    slice_s: float,
    before_delete: Callable[[], None] = lambda: None,
) -> int:
    """Delete the window slice by slice; returns the number of rows deleted.

    ``before_delete`` runs before every DELETE (the lease check). Raises DataChanged when InfluxDB's
    counts differ from the archive's in a slice, ArchiveError (permanent) when another retention policy
    holds the measurement in the window.
    """
    holding = other_policies_hold(influx, window)
    if holding:
        raise ArchiveError(
            f"not deleting {window.measurement} in {window.retention_policy}: InfluxDB's DELETE would also "
            f"remove its rows in {', '.join(holding)} (give downsampled data its own measurement name)",
            retryable=False,
        )
    layout = Layout.of(archived)
    times = archived.column(TIME).cast(pa.int64()).to_numpy()
    step = max(1, int(slice_s * NS))
    deleted = 0
    start = window.start_ns
    while start < window.end_ns:
        end = min(start + step, window.end_ns)
        held = field_counts(influx, window, start, end)
        if held:
            expected = archived_counts(archived, layout, start, end)
            if held != expected:
                raise DataChanged(
                    f"{window.measurement} ({window.retention_policy}) changed since it was archived in "
                    f"[{start}, {end}): InfluxDB holds {held}, the archive {expected}; re-archiving next pass"
                )
            before_delete()
            influx.execute(f"DELETE FROM {quote_ident(window.measurement)} WHERE {window.condition(start, end)}")
            deleted += int(np.count_nonzero((times >= start) & (times < end)))
        start = end
    return deleted
