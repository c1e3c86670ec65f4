"""The samples InfluxDB forwards to the rules engine, held for a few minutes: an evaluation's new
buckets come from memory instead of a query.

InfluxDB 1.x forwards every write of a retention policy to its subscribers, as Kapacitor reads
them (:mod:`rules.subscription` sets that up). This holds, per measurement the rules read, the
fields they read: sample time, box, values. :meth:`SampleStream.answer` then gives what the
reading's InfluxQL statement would return for ``[start, end)``: the raw rows, or per-step buckets
per box of first, last, count, sum, mean, max, min, computed here. Only when the stream is known
complete for that range, otherwise None and the engine queries InfluxDB as before:

- complete from: the subscription made, a probe point is written (:data:`PROBE`); once it comes
  back, every write InfluxDB took after it is forwarded too, so the stream is complete from its
  time plus ``margin`` (a sample stamped later but written earlier comes from a box whose clock
  runs ahead: 5 s allowed). Without the probe, from the first forwarded batch; after a gap, from
  then plus ``margin``. At a fresh start, from hours earlier once :meth:`fill` took the few rows
  InfluxDB held before (:meth:`rules.subscription.StreamSubscription.fill`);
- a gap: a batch that could not be read, a value whose type differs from the field's earlier
  values (InfluxDB refuses such a point but forwards it), a string or boolean value, a write
  InfluxDB failed to forward (:meth:`broken`, from its statistics), or rules that want a field
  not held so far;
- samples older than ``hold`` are dropped, and a range that begins before what is held is queried.

A batch's lines of one measurement and one plain layout are read column-wise
(:mod:`rules.streamcolumns`), any other line one by one, with the same result.

Late data is the query path's: a point forwarded after its bucket was answered is seen when the
bucket is answered again (the reader re-reads ``late_data``), not after. A sample written twice
(a retried request) counts once, its fields merged as InfluxDB merges them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rules.conditions.reading import Reading
from rules.streamcolumns import line_prefix, take_columns
from storage.lineparser import parse_field_value, parse_line

log = logging.getLogger(__name__)
NS = 1_000_000_000
SEAL_ROWS = 50_000  # pending rows turned into arrays at once
CLOCK_SKEW_S = 5.0  # how far ahead of the server's clock a box may stamp its samples, for completeness
PROBE = "jboxmon_stream_probe"  # the measurement of the point that shows the subscription works
PRUNE_EVERY_S = 10.0
MAX_SERIES = 1_000_000


class StreamGap(ValueError):
    """What the stream cannot hold exactly: the measurement (None: every one) is not complete until
    ``margin`` later."""

    def __init__(self, why: str, measurement: str | None = None) -> None:
        super().__init__(why)
        self.measurement = measurement


@dataclass
class _Table:
    """One measurement's held samples: sealed arrays, plus rows still in Python lists."""

    measurement: str
    fields: tuple[str, ...]
    index: dict[str, int]
    kinds: list[type | None] = field(default_factory=list)  # per field: float or int, its first value's
    complete_from: int | None = None  # ns of sample time; None: not yet
    prefix: str | None = None  # how its lines begin, for the column-wise reader
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # t, box, values
    times: list[int] = field(default_factory=list)
    boxes: list[int] = field(default_factory=list)  # box codes (SampleStream._code)
    values: list[list[float]] = field(default_factory=list)

    def add(self, time_ns: int, box: int, values: list[float]) -> None:
        self.times.append(time_ns)
        self.boxes.append(box)
        self.values.append(values)

    def add_block(self, t: np.ndarray, boxes: np.ndarray, values: np.ndarray, earlier: bool = False) -> None:
        """Rows after those added before (a point written twice keeps its last value), or, ``earlier``,
        before every row held (what InfluxDB held before the rows forwarded since)."""
        self.seal()
        self.chunks.insert(0 if earlier else len(self.chunks), (t, boxes, values))

    def seal(self) -> None:
        if self.times:
            t = np.asarray(self.times, dtype=np.int64)
            self.chunks.append((t, np.asarray(self.boxes, dtype=np.int32), np.asarray(self.values, dtype=np.float64)))
            self.times, self.boxes, self.values = [], [], []

    def rows(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.seal()
        parts = [(t, b, v) for t, b, v in self.chunks if len(t) and t.min() < end and t.max() >= start]
        if not parts:
            return np.empty(0, np.int64), np.empty(0, np.int32), np.empty((0, len(self.fields)))
        t, b, v = (np.concatenate(p) for p in zip(*parts, strict=True))
        keep = (t >= start) & (t < end)
        return t[keep], b[keep], v[keep]

    def prune(self, before: int) -> bool:
        """Drop the rows older than ``before``; True when there were any."""
        self.seal()
        kept, dropped = [], False
        for t, b, v in self.chunks:
            keep = t >= before
            if keep.all():
                kept.append((t, b, v))
                continue
            dropped = True
            if keep.any():
                kept.append((t[keep], b[keep], v[keep]))
        self.chunks = kept
        return dropped


class SampleStream:
    def __init__(
        self, hold_s: float = 180.0, margin_s: float = CLOCK_SKEW_S, clock: Callable[[], float] = time.time
    ) -> None:
        self.hold_s = hold_s
        self.margin_s = margin_s
        self.clock = clock
        self.retention_policy: str | None = None  # the policy forwarded (the database's default)
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self._live = False  # a batch was forwarded since the subscription was made
        self._probe: tuple[str, float, int] | None = None  # (its field text, written at, gaps then)
        self.lines = 0  # lines read
        self.gaps = 0
        self.answers = 0
        self._pruned_at = 0.0
        self._series: dict[str, tuple[_Table, int] | None] = {}  # series key -> its table and box code
        self._codes: dict[str, int] = {}  # box -> code: samples hold codes, answers the names
        self._names: list[str] = []
        self._names_array = pd.array([], dtype="str")

    # -- what is held ------------------------------------------------------------------------------

    def serves(self, reading: Reading) -> bool:
        return reading.retention_policy in (None, self.retention_policy)

    def want(self, readings: Iterable[Reading]) -> None:
        """Hold the fields these readings need (the rules after a load or reload); a field not held
        so far makes its measurement complete only ``margin`` from now."""
        wanted: dict[str, set[str]] = {}
        for reading in readings:
            if self.serves(reading):
                wanted.setdefault(reading.measurement, set()).update(reading.fields)
        with self._lock:
            for measurement, fields in wanted.items():
                table = self._tables.get(measurement)
                if table is not None and fields <= set(table.fields):
                    continue
                names = tuple(sorted(fields | set(table.fields if table else ())))
                index = {name: i for i, name in enumerate(names)}
                self._tables[measurement] = _Table(
                    measurement, names, index, [None] * len(names), prefix=line_prefix(measurement)
                )
                self._series.clear()  # keys point at the tables they were read for
                if self._live:
                    self._tables[measurement].complete_from = self._from_now()

    def started(self) -> None:
        """The subscription exists (again): complete once a batch arrives, ``margin`` after it."""
        with self._lock:
            self._live = False
            for table in self._tables.values():
                table.complete_from = None

    def expect(self, marker: str, written_at: float) -> None:
        """A probe point whose line holds ``marker`` is written to InfluxDB at ``written_at``."""
        with self._lock:
            self._probe = (marker, written_at, self.gaps)

    def broken(self, why: str, measurement: str | None = None) -> None:
        """Something forwarded was lost: complete again only ``margin`` from now."""
        with self._lock:
            self.gaps += 1
            for name, table in self._tables.items():
                if measurement is None or name == measurement:
                    table.complete_from = self._from_now() if self._live else None
        log.warning("rules stream: %s; reading InfluxDB until %.0f s from now", why, self.margin_s)

    def _from_now(self) -> int:
        return int((self.clock() + self.margin_s) * NS)

    # -- what InfluxDB held before -----------------------------------------------------------------

    def to_fill(self) -> list[tuple[str, tuple[str, ...], int]]:
        """(measurement, fields, complete from) of each table complete since its subscription's probe:
        what :meth:`fill` may extend back with the rows InfluxDB held before."""
        with self._lock:
            return [
                (name, table.fields, table.complete_from)
                for name, table in self._tables.items()
                if table.complete_from is not None
            ]

    def fill(
        self, measurement: str, complete_from: int, floor: int, frame: pd.DataFrame, kinds: dict[str, type]
    ) -> bool:
        """The stream is complete from ``floor`` for ``measurement``: ``frame`` (``time``, ``jbox_id``
        and the table's fields, :meth:`InfluxClient.query_samples`) is every row InfluxDB held in
        ``[floor, complete_from)``. Taken only if the table is still complete from ``complete_from``
        (no gap, no prune, no new rule since); its rows go before the forwarded ones (a point
        forwarded after the read is newer). ``kinds``: each field's type in InfluxDB (float or int),
        which a forwarded value must then have. Returns whether it was taken."""
        with self._lock:
            table = self._tables.get(measurement)
            if table is None or table.complete_from != complete_from or floor > complete_from:
                return False
            held = {name: kinds[name] for name in table.fields if name in kinds}
            if any(table.kinds[table.index[name]] not in (None, kind) for name, kind in held.items()):
                return False  # InfluxDB keeps another type than was forwarded: left to queries
            if not frame.empty and not set(table.fields) <= set(frame.columns):
                return False
            for name, kind in held.items():
                table.kinds[table.index[name]] = kind
            if not frame.empty:
                # as _take: a point without a box is not held (no point of the measurement had one: no column)
                box = frame["jbox_id"] if "jbox_id" in frame.columns else pd.Series(None, index=frame.index)
                with_box = box.notna() & (box != "")
                frame, box = frame[with_box], box[with_box]
                t = frame["time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
                boxes = np.fromiter((self._code(name) for name in box), np.int32, len(frame))
                values = frame[list(table.fields)].to_numpy(dtype=np.float64, na_value=np.nan)
                table.add_block(t, boxes, values, earlier=True)
            table.complete_from = floor
            return True

    # -- forwarded writes --------------------------------------------------------------------------

    def feed(self, body: str) -> int:
        """Take one forwarded batch (line protocol, nanosecond times); returns the lines held."""
        problems: dict[str | None, str] = {}  # measurement -> the first reason it has a gap
        with self._lock:
            probe = self._probe if self._probe is not None and self._probe[0] in body else None
            if probe is not None:
                self._probe = None
            if not self._live:
                self._live = True
                # the probe came back with nothing lost since it was written: complete from then
                exact = probe is not None and probe[2] == self.gaps
                start = int((probe[1] + self.margin_s) * NS) if exact else self._from_now()
                for table in self._tables.values():
                    table.complete_from = start
            tables = self._tables
            lines = body.split("\n")
            held, left = self._by_columns(lines) if "\\" not in body else (0, lines)
            for line in left:
                if not line or line[0] == "#":
                    continue
                try:
                    held += _take(line, tables, self._series, self._code)
                except StreamGap as exc:
                    problems.setdefault(exc.measurement, str(exc))
            self.lines += held
            if len(self._series) > MAX_SERIES:  # keys of boxes long gone: read again when seen
                self._series.clear()
            for table in tables.values():
                if len(table.times) >= SEAL_ROWS:
                    table.seal()
        if self.clock() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = self.clock()
            self.prune()
        for measurement, why in problems.items():
            self.broken(why, measurement)
        return held

    def _by_columns(self, lines: list[str]) -> tuple[int, list[str]]:
        """Each measurement's lines held column-wise when they share one plain layout: (rows held,
        the lines left to read one by one, in their order within each measurement)."""
        held, left, taken, prefixes = 0, [], 0, []
        for table in self._tables.values():
            if table.prefix is None:
                continue
            prefixes.append(table.prefix)
            mine = [line for line in lines if line.startswith(table.prefix)]
            taken += len(mine)
            rows = take_columns(mine, table, self._code) if mine else 0
            if rows is None:
                left += mine
            else:
                held += rows
        if taken < len(lines) - lines.count(""):  # other measurements, escaped names, comments
            others = tuple(prefixes)
            left += [line for line in lines if line and not line.startswith(others)]
        return held, left

    def _code(self, box: str) -> int:
        code = self._codes.get(box)
        if code is None:
            code = self._codes[box] = len(self._names)
            self._names.append(box)
        return code

    def prune(self) -> None:
        """Drop samples older than ``hold``."""
        before = int((self.clock() - self.hold_s) * NS)
        with self._lock:
            for table in self._tables.values():
                # complete from before the oldest row held (filled from InfluxDB) as long as none was dropped
                if table.prune(before) and table.complete_from is not None:
                    table.complete_from = max(table.complete_from, before)

    # -- answers -----------------------------------------------------------------------------------

    def answer(self, reading: Reading, start: int, end: int) -> pd.DataFrame | None:
        """What ``reading.influxql(start, end)`` returns, or None when the stream cannot say."""
        if not self.serves(reading):
            return None
        with self._lock:
            table = self._tables.get(reading.measurement)
            if table is None or table.complete_from is None or start < table.complete_from:
                return None
            if not reading.fields <= set(table.fields):
                return None
            t, codes, values = table.rows(start, end)
            at = table.index  # a table's fields never change: want() replaces the table
            if len(self._names_array) != len(self._names):
                self._names_array = pd.array(self._names, dtype="str")
            names = self._names_array
            self.answers += 1
        t, codes, values = _merged(t, codes, values)
        return _frame(reading, t, codes, names, values, at)


def _take(
    line: str, tables: dict[str, _Table], series: dict[str, tuple[_Table, int] | None], code: Callable[[str], int]
) -> int:
    """One line into its table; 0 when no rule reads it. Raises StreamGap for what cannot be held.

    The hot path (~10,000 lines a second per 10,000 boxes): a series key seen before is not parsed
    again (``series``: key -> its table and box), and plain numbers are converted in place."""
    if "\\" in line or '"' in line:  # escapes or string fields: the reference parser
        return _take_point(line, tables, code)
    key, _, rest = line.partition(" ")
    try:
        entry = series[key]
    except KeyError:
        entry = series[key] = _series(key, tables, code)
    if entry is None:
        return 0
    table, box = entry
    fields_text, _, time_text = rest.partition(" ")
    index, kinds = table.index, table.kinds
    values = [math.nan] * len(index)
    found = False
    for pair in fields_text.split(","):
        name, _, text = pair.partition("=")
        i = index.get(name)
        if i is None:
            continue
        found = True
        if text[-1] != "i":
            try:
                values[i] = float(text)
            except ValueError:  # a boolean: no number a rule can count on
                values[i] = _number(text, name, table)
                continue
            if kinds[i] is not float:
                _kind(table, i, float)
        else:
            values[i] = _number(text, name, table)
    if not found:
        return 0
    try:
        time_ns = int(time_text)
    except ValueError:
        raise StreamGap(
            f"a {table.measurement} line without a nanosecond time: {line[:80]!r}", table.measurement
        ) from None
    table.add(time_ns, box, values)
    return 1


def _series(key: str, tables: dict[str, _Table], code: Callable[[str], int]) -> tuple[_Table, int] | None:
    """A plain series key's table and box (None: no rule reads it, or it has no box)."""
    measurement, _, tag_text = key.partition(",")
    table = tables.get(measurement)
    if table is None:
        return None
    for tag in tag_text.split(","):
        if tag.startswith("jbox_id="):
            return table, code(tag[8:])
    return None


def _take_point(line: str, tables: dict[str, _Table], code: Callable[[str], int]) -> int:
    try:
        point = parse_line(line)
    except ValueError as exc:
        raise StreamGap(f"a forwarded line InfluxDB read and this cannot: {exc}") from None
    table = tables.get(point.measurement)
    box = point.tags.get("jbox_id")
    if table is None or box is None:
        return 0
    values = [math.nan] * len(table.fields)
    found = False
    for name, value in point.fields.items():
        i = table.index.get(name)
        if i is not None:
            values[i] = _checked(value, name, table)
            found = True
    if not found:
        return 0
    if point.time_ns is None:
        raise StreamGap(f"a {point.measurement} line without a time", point.measurement)
    table.add(point.time_ns, code(box), values)
    return 1


def _number(text: str, name: str, table: _Table) -> float:
    """A value off the hot path: an integer, or whatever else the reference parser reads."""
    if text[-1] == "i":
        value: object = int(text[:-1])
    else:
        try:
            value = parse_field_value(text)
        except ValueError as exc:
            raise StreamGap(f"field {name!r} of {table.measurement}: {exc}", table.measurement) from None
    return _checked(value, name, table)


def _checked(value, name: str, table: _Table) -> float:
    kind = type(value)
    if kind not in (float, int):
        measurement = table.measurement
        raise StreamGap(f"field {name!r} of {measurement} holds a {kind.__name__}, not a number", measurement)
    _kind(table, table.index[name], kind)
    return float(value)


def _kind(table: _Table, i: int, kind: type) -> None:
    """A field keeps the type of its first value: InfluxDB refuses a point of another type (a field
    type conflict), yet forwards it."""
    first = table.kinds[i]
    if first is None:
        table.kinds[i] = kind
    elif first is not kind:
        name, measurement = table.fields[i], table.measurement
        raise StreamGap(
            f"field {name!r} of {measurement} changed type ({first.__name__} -> {kind.__name__})", measurement
        )


def _merged(t: np.ndarray, codes: np.ndarray, values: np.ndarray) -> tuple:
    """Rows sorted by (box, time), each (box, time) once: a point written twice is one point in
    InfluxDB, its fields merged (the last value of each field wins)."""
    order = np.lexsort((t, codes))
    t, codes, values = t[order], codes[order], values[order]
    same = (t[1:] == t[:-1]) & (codes[1:] == codes[:-1])
    if same.any():
        frame = pd.DataFrame(values).assign(_b=codes, _t=t)
        merged = frame.groupby(["_b", "_t"], sort=True).last()  # last non-null per field, in arrival order
        codes = merged.index.get_level_values(0).to_numpy()
        t = merged.index.get_level_values(1).to_numpy()
        values = merged.to_numpy(dtype=np.float64, na_value=np.nan)
    return t, codes, values


def _frame(reading: Reading, t: np.ndarray, codes: np.ndarray, names, values: np.ndarray, at: dict[str, int]):
    """The frame InfluxDB's answer gives (``time``, ``jbox_id``, the columns) plus ``t_ns``;
    rows by box then time (``names``: the box of each code)."""
    present = np.zeros(len(t), dtype=bool)  # a sample with a value of a field the reading selects
    for i in {at[c.field] for c in reading.columns}:
        present |= ~np.isnan(values[:, i])
    if reading.step_s is None:
        data = {c.name: values[present, at[c.field]] for c in reading.columns}
        return _with_time(pd.DataFrame({**data, "jbox_id": names.take(codes[present])}), t[present])
    if not len(t):
        return pd.DataFrame()
    step = reading.step_s * NS
    bucket = t // step * step
    change = np.flatnonzero((bucket[1:] != bucket[:-1]) | (codes[1:] != codes[:-1])) + 1
    starts = np.concatenate([[0], change])
    data = {"jbox_id": names.take(codes[starts])}
    for column in reading.columns:
        data[column.name] = _aggregate(column.aggregate, values[:, at[column.field]], starts, len(t))
    keep = np.add.reduceat(present.astype(np.int64), starts) > 0  # no value at all: no row (fill(none))
    return _with_time(pd.DataFrame(data)[keep].reset_index(drop=True), bucket[starts][keep])


def _aggregate(how: str, v: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    valid = ~np.isnan(v)
    if how == "count":  # InfluxDB says null, not 0, for a field without points in a bucket that has a row
        count = np.add.reduceat(valid.astype(np.int64), starts)
        return np.where(count > 0, count, np.nan)
    if how in ("sum", "mean"):
        total = _sequential_sums(np.where(valid, v, 0.0), starts, n)
        count = np.add.reduceat(valid.astype(np.int64), starts)
        with np.errstate(all="ignore"):
            return np.where(count > 0, total if how == "sum" else total / count, np.nan)
    if how in ("max", "min"):
        return (np.fmax if how == "max" else np.fmin).reduceat(v, starts)
    position = np.arange(n)
    if how == "first":
        at = np.minimum.reduceat(np.where(valid, position, n), starts)
    else:  # last
        at = np.maximum.reduceat(np.where(valid, position, -1), starts)
    ends = np.concatenate([starts[1:], [n]])
    found = (at >= starts) & (at < ends)
    return np.where(found, v[np.clip(at, 0, n - 1)], np.nan)


def _sequential_sums(v: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Each segment's sum added in order, as InfluxDB adds a bucket's points: numpy's own sums
    (pairwise from 8 values on) can differ in the last bit, and a threshold then in its verdict.
    One vector step per position in the segments, over the segments that long."""
    lengths = np.diff(np.append(starts, n))
    total = np.zeros(len(starts))
    active = np.arange(len(starts))
    for k in range(int(lengths.max(initial=0))):
        active = active[lengths[active] > k]
        total[active] += v[starts[active] + k]
    return total


def _with_time(frame: pd.DataFrame, t: np.ndarray) -> pd.DataFrame:
    frame["time"] = pd.to_datetime(t, unit="ns", utc=True)
    frame["t_ns"] = t
    return frame
