"""A durable on-disk queue of accepted line-protocol batches: ack after fsync, replay in order.

Layout of the spool directory (format version 2; version 1 spools are read and upgraded)::

    VERSION                 "2"
    00000000000000000001.seg   records appended by the ingestion side
    cursor                  "<segment number> <offset>": what the writer has delivered

A record is ``MAGIC(2) | length(4) | crc32(4) | payload``. Version 2 (magic ``J2``): the payload
is ``appended_at(8, float seconds) | sections``, a section being ``policy length(1) | policy |
lines length(4) | line protocol``: one request's lines for every retention policy in ONE record,
so a request is spooled whole or not at all, and the append time of the oldest undelivered
record is on disk (``oldest_age_s`` survives a restart). Version 1 (magic ``JS``):
``<retention policy>\n<line protocol>``, no time. A torn record at the tail of the last segment
(a crash mid-append) fails its length or CRC check and is cut off on start: it was never
acknowledged, because acknowledgement waits for fsync.

Appends use group commit: concurrent writers each append, then ask for a sync up to their
offset; one of them runs fsync and the others find their bytes already durable. This keeps the
ack latency near one fsync however many requests are in flight. The directory is created 0700 and
every file in it 0600, from the first byte: the spool holds the fleet's data.

The segment list, their sizes, the pending byte and line counts are kept in memory (read from the
directory once, on open): a commit rewrites the cursor and deletes delivered segments without
listing or stat-ing the directory. The pending line count is exact for what this process wrote
and an underestimate after a restart (replayed segments are not scanned); the writer only uses it
to decide when a full batch is waiting.

The writer takes the records this process appended from memory (up to ``unread_bytes``, once
they are synced) rather than reading back and checking what it just wrote; the rest, and
everything after a restart or a failed delivery, is read from disk.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = "2"
READABLE_VERSIONS = ("1", "2")
MAGIC = b"J2"
MAGIC_V1 = b"JS"
HEADER = struct.Struct(">2sII")
APPENDED_AT = struct.Struct(">d")
LINES_LENGTH = struct.Struct(">I")
SEGMENT_BUFFER = 1 << 20  # bytes of records buffered between group commits
UNREAD_BYTES = 32 << 20  # records kept in memory for the writer (beyond it, read back from disk)


class SpoolFullError(Exception):
    """The spool holds ``max_bytes`` of undelivered data: the caller answers 503 + Retry-After."""


@dataclass(frozen=True)
class Record:
    segment: int
    offset: int  # byte offset just after this record
    retention_policy: str
    lines: bytes
    appended_at: float | None = None  # None in a version 1 record
    count: int = 0  # number of lines in ``lines``


class Spool:
    """Append-only segments with a persisted read cursor; safe for many appending threads and one reader."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.time,
        unread_bytes: int = UNREAD_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.unread_bytes = unread_bytes
        self.clock = clock  # wall time, stored in each record and compared after a restart
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._file = None
        self._segment = 0
        self._write_offset = 0
        self._synced = (0, 0)
        self._cursor = (0, 0)
        self._pending_bytes = 0
        self._pending_lines = 0
        self._sizes: dict[int, int] = {}  # segment number -> bytes, every segment on disk
        self._oldest: tuple[tuple[int, int], float | None] = ((-1, -1), None)  # (cursor, its record's time)
        # records this process appended and the writer has not read yet, by start position: the
        # writer takes them from here instead of reading back (and checking) what was just written;
        # what does not fit (InfluxDB away for long) is read from disk as after a restart
        self._unread: dict[tuple[int, int], tuple[int, float, list[tuple[str, bytes]], int]] = {}
        self._unread_size = 0
        self.corrupt_segments = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Spool:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        version_file = self.directory / "VERSION"
        found = version_file.read_text().strip() if version_file.exists() else None
        if found is not None and found not in READABLE_VERSIONS:
            raise RuntimeError(f"{self.directory}: spool format {found!r}, this version reads {READABLE_VERSIONS}")
        if found != FORMAT_VERSION:
            _write_atomically(version_file, FORMAT_VERSION)  # version 1 records stay readable
        self._cursor = self._read_cursor()
        segments = self._segments()
        self._sizes = {number: self._segment_path(number).stat().st_size for number in segments}
        if segments:
            self._segment = segments[-1]
            self._write_offset = self._truncate_torn_tail(self._segment)
        else:
            self._segment, self._write_offset = max(self._cursor[0], 1), 0
        self._file = _open_segment(self._segment_path(self._segment))
        self._sizes[self._segment] = self._write_offset
        self._synced = (self._segment, self._write_offset)
        self._pending_bytes = self._measure_pending()
        self._pending_lines = 0
        return self

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None

    # -- ingestion side ----------------------------------------------------------------------

    def append(self, lines: bytes, retention_policy: str = "") -> None:
        """Append one batch and return once it is on disk (fsync). Raises SpoolFullError when full."""
        self.sync(self.write(lines, retention_policy))

    def write(self, lines: bytes, retention_policy: str = "") -> tuple[int, int]:
        """Append one batch without waiting for the disk; returns the position to pass to ``sync``.

        Nothing written is acknowledged or delivered until a ``sync`` covering it returns.
        """
        return self.write_sections([(retention_policy, lines)])

    def write_sections(self, sections: list[tuple[str, bytes]], count: int | None = None) -> tuple[int, int]:
        """Append batches for several retention policies as one record: all of them or none;
        ``count`` is their number of lines, counted here when not given.

        Raises SpoolFullError (nothing written) when the record does not fit.
        """
        parts = []
        for policy, lines in sections:
            name = policy.encode()
            if len(name) > 255:
                raise ValueError(f"retention policy name too long: {policy[:40]!r}")
            parts += [bytes((len(name),)), name, LINES_LENGTH.pack(len(lines)), lines]
        if count is None:
            count = sum(lines.count(b"\n") + 1 for _, lines in sections)
        with self._lock:
            appended_at = self.clock()
            payload = APPENDED_AT.pack(appended_at) + b"".join(parts)
            record = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
            if self._pending_bytes + len(record) > self.max_bytes:
                raise SpoolFullError(f"spool holds {self._pending_bytes} bytes (limit {self.max_bytes})")
            if self._write_offset >= self.segment_bytes:
                self._rotate()
            self._file.write(record)
            if self._unread_size + len(record) <= self.unread_bytes:
                end = self._write_offset + len(record)
                self._unread[(self._segment, self._write_offset)] = (end, appended_at, sections, len(record))
                self._unread_size += len(record)
            self._write_offset += len(record)
            self._sizes[self._segment] = self._write_offset
            self._pending_bytes += len(record)
            self._pending_lines += count
            return (self._segment, self._write_offset)

    def sync(self, position: tuple[int, int]) -> None:
        """Return once everything up to ``position`` is on disk (group commit)."""
        with self._sync_lock:
            if self._synced >= position:
                return  # another thread's fsync covered these bytes
            with self._lock:
                self._file.flush()
                target = (self._segment, self._write_offset)
                fileno = self._file.fileno()
            os.fsync(fileno)
            self._synced = target

    def _rotate(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._segment += 1
        self._write_offset = 0
        self._file = _open_segment(self._segment_path(self._segment))
        self._sizes[self._segment] = 0
        _fsync_directory(self.directory)

    # -- delivery side -----------------------------------------------------------------------

    def read(self, max_lines: int = 10_000) -> list[Record]:
        """Durable records after the cursor, up to about ``max_lines`` lines, oldest first."""
        records: list[Record] = []
        lines = 0
        segment, offset = self._cursor
        synced = self._synced
        unread = self._unread
        while (segment, offset) < synced and lines < max_lines:
            kept = self._take_unread((segment, offset))
            if kept is not None:  # synced up to here, so up to its end (syncs end on a record's end)
                offset, appended_at, sections = kept
                lines += _add_records(records, segment, offset, appended_at, sections)
                continue
            path = self._segment_path(segment)
            size = self._sizes.get(segment)
            if size is None:
                segment, offset = segment + 1, 0
                continue
            end = synced[1] if segment == synced[0] else size
            if offset >= end:
                segment, offset = segment + 1, 0
                continue
            with open(path, "rb") as handle:
                handle.seek(offset)
                while offset < end and lines < max_lines and (segment, offset) not in unread:
                    record = _read_record(handle, segment)
                    if record is None:
                        # corruption inside a durable segment (disk fault): skip its rest rather
                        # than block delivery forever; the count shows up in the metrics
                        self.corrupt_segments += 1
                        segment, offset = segment + 1, 0
                        self._forget_unread_before(segment)
                        break
                    offset = handle.tell()
                    lines += _add_records(records, segment, offset, *record)
        return records

    def _take_unread(self, position: tuple[int, int]) -> tuple[int, float, list[tuple[str, bytes]]] | None:
        if position not in self._unread:
            return None
        with self._lock:
            end, appended_at, sections, size = self._unread.pop(position)
            self._unread_size -= size
        return end, appended_at, sections

    def _forget_unread_before(self, segment: int) -> None:
        with self._lock:
            for position in [position for position in self._unread if position[0] < segment]:
                self._unread_size -= self._unread.pop(position)[3]

    def commit(self, record: Record, lines: int = 0) -> None:
        """Mark everything up to ``record`` as delivered (``lines`` lines since the last commit);
        fully delivered segments are deleted.

        The cursor is replaced atomically but not fsynced: losing its last update in a power cut
        only re-delivers a batch, which InfluxDB stores once (same series, same timestamps).
        """
        _write_atomically(self.directory / "cursor", f"{record.segment} {record.offset}", durable=False)
        with self._lock:
            old_segment, old_offset = self._cursor
            delivered = record.offset - old_offset
            for number in [n for n in self._sizes if n < record.segment]:
                if number >= old_segment:
                    delivered += self._sizes[number]
                if number != self._segment:
                    self._segment_path(number).unlink(missing_ok=True)
                    del self._sizes[number]
            self._cursor = (record.segment, record.offset)
            self._pending_bytes = max(0, self._pending_bytes - delivered)
            self._pending_lines = max(0, self._pending_lines - lines)

    # -- introspection -----------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def pending_lines(self) -> int:
        """Lines written and not yet delivered (an underestimate right after a restart)."""
        return self._pending_lines

    def oldest_age_s(self, now: float | None = None) -> float:
        """Age of the oldest undelivered record (0 when everything is delivered).

        Read from the record itself, cached per cursor position: exact across restarts. A version
        1 record has no time; its segment's modification time stands in for it.
        """
        cursor = self._cursor
        if cursor >= self._synced:
            return 0.0
        cached_cursor, appended_at = self._oldest
        if cached_cursor != cursor:
            appended_at = self._first_undelivered_time(cursor)
            self._oldest = (cursor, appended_at)
        return 0.0 if appended_at is None else max(0.0, (now or self.clock()) - appended_at)

    def _first_undelivered_time(self, cursor: tuple[int, int]) -> float | None:
        segment, offset = cursor
        while (segment, offset) < self._synced:
            path = self._segment_path(segment)
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    record = _read_record(handle, segment)
                    if record is not None:
                        return record[0] if record[0] is not None else os.fstat(handle.fileno()).st_mtime
            except FileNotFoundError:
                pass
            segment, offset = segment + 1, 0
        return None

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.seg"))

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"{number:020d}.seg"

    def _read_cursor(self) -> tuple[int, int]:
        try:
            segment, offset = (self.directory / "cursor").read_text().split()
            return int(segment), int(offset)
        except FileNotFoundError:
            segments = self._segments()
            return (segments[0] if segments else 1), 0

    def _measure_pending(self) -> int:
        total = 0
        for number in self._segments():
            if number < self._cursor[0]:
                continue
            size = self._segment_path(number).stat().st_size
            total += size - (self._cursor[1] if number == self._cursor[0] else 0)
        return max(total, 0)

    def _truncate_torn_tail(self, segment: int) -> int:
        path = self._segment_path(segment)
        good = 0
        with open(path, "rb") as handle:
            while _read_record(handle, segment) is not None:
                good = handle.tell()
        if good != path.stat().st_size:
            with open(path, "r+b") as handle:
                handle.truncate(good)
                os.fsync(handle.fileno())
        return good


def spool_lines(
    spool: Spool, lines_by_policy: Mapping[str, list[str]], count: int | None = None
) -> tuple[int, int] | None:
    """The ingestion stage: one request's lines, every retention policy in one record, so it is
    spooled whole or not at all (``raw`` is the database's default policy, spooled as '').

    Returns the position to ``sync`` before acknowledging, or None when there was nothing to write.
    Raises SpoolFullError, having written nothing. ``count``, the number of lines when the caller
    knows it, spares counting them again.
    """
    sections = [
        ("" if policy == "raw" else policy, "\n".join(lines).encode())
        for policy, lines in lines_by_policy.items()
        if lines
    ]
    return spool.write_sections(sections, count) if sections else None


def _add_records(
    records: list[Record], segment: int, offset: int, appended_at: float | None, sections: list[tuple[str, bytes]]
) -> int:
    """One spooled record's sections as Records ending at ``offset``; returns their number of lines."""
    lines = 0
    for policy, body in sections:  # one request's policies share the record's offset
        count = body.count(b"\n") + 1
        records.append(Record(segment, offset, policy, body, appended_at, count))
        lines += count
    return lines


def _read_record(handle, segment: int) -> tuple[float | None, list[tuple[str, bytes]]] | None:
    """(append time, [(policy, lines)]) of the record at the handle's position; None when torn or corrupt."""
    header = handle.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    magic, length, crc = HEADER.unpack(header)
    payload = handle.read(length)
    if magic not in (MAGIC, MAGIC_V1) or len(payload) < length or zlib.crc32(payload) != crc:
        return None
    if magic == MAGIC_V1:
        policy, _, lines = payload.partition(b"\n")
        return None, [(policy.decode(), lines)]
    (appended_at,) = APPENDED_AT.unpack_from(payload)
    sections, position = [], APPENDED_AT.size
    while position < len(payload):
        name_length = payload[position]
        policy = payload[position + 1 : position + 1 + name_length].decode()
        position += 1 + name_length
        (size,) = LINES_LENGTH.unpack_from(payload, position)
        position += LINES_LENGTH.size
        sections.append((policy, payload[position : position + size]))
        position += size
    return appended_at, sections


def _open_segment(path: Path):
    """Open a segment for appending, created 0600 (never readable by others, not for an instant)."""
    # a large buffer: records reach the file when a group commit flushes them (one write() for many
    # requests); nothing is acknowledged or read back before that flush and its fsync
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab", buffering=SEGMENT_BUFFER)


def _write_atomically(path: Path, text: str, durable: bool = True) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)  # a leftover of a crash: recreated below with the private mode
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if durable:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
