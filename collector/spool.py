"""A durable on-disk queue of accepted line-protocol batches: ack after fsync, replay in order.

Layout of the spool directory (format version 1)::

    VERSION                 "1"
    00000000000000000001.seg   records appended by the ingestion side
    cursor                  "<segment number> <offset>": what the writer has delivered

A record is ``MAGIC(2) | length(4) | crc32(4) | payload`` where the payload is
``<retention policy>\\n<line protocol>``. A torn record at the tail of the last segment (a crash
mid-append) fails its length or CRC check and is cut off on start: it was never acknowledged,
because acknowledgement waits for fsync.

Appends use group commit: concurrent writers each append, then ask for a sync up to their
offset; one of them runs fsync and the others find their bytes already durable. This keeps the
ack latency near one fsync however many requests are in flight.
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

FORMAT_VERSION = "1"
MAGIC = b"JS"
HEADER = struct.Struct(">2sII")


class SpoolFullError(Exception):
    """The spool holds ``max_bytes`` of undelivered data: the caller answers 503 + Retry-After."""


@dataclass(frozen=True)
class Record:
    segment: int
    offset: int  # byte offset just after this record
    retention_policy: str
    lines: bytes


class Spool:
    """Append-only segments with a persisted read cursor; safe for many appending threads and one reader."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.clock = clock  # wall time, comparable with segment mtimes after a restart
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._file = None
        self._segment = 0
        self._write_offset = 0
        self._synced = (0, 0)
        self._cursor = (0, 0)
        self._pending_bytes = 0
        self._oldest_append: dict[int, float] = {}
        self.corrupt_segments = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Spool:
        self.directory.mkdir(parents=True, exist_ok=True)
        version_file = self.directory / "VERSION"
        if version_file.exists():
            found = version_file.read_text().strip()
            if found != FORMAT_VERSION:
                raise RuntimeError(f"{self.directory}: spool format {found!r}, this version reads {FORMAT_VERSION!r}")
        else:
            _write_atomically(version_file, FORMAT_VERSION)
        self._cursor = self._read_cursor()
        segments = self._segments()
        if segments:
            self._segment = segments[-1]
            self._write_offset = self._truncate_torn_tail(self._segment)
        else:
            self._segment, self._write_offset = max(self._cursor[0], 1), 0
        self._file = open(self._segment_path(self._segment), "ab")  # noqa: SIM115
        self._synced = (self._segment, self._write_offset)
        self._pending_bytes = self._measure_pending()
        for number in self._segments():
            # only segments holding undelivered bytes: a fresh empty one's mtime is the time of
            # this open, not of an append, and would age the first data written after it
            start = self._cursor[1] if number == self._cursor[0] else 0
            stat = self._segment_path(number).stat()
            if number >= self._cursor[0] and stat.st_size > start:
                self._oldest_append[number] = stat.st_mtime
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
        payload = retention_policy.encode() + b"\n" + lines
        record = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._pending_bytes + len(record) > self.max_bytes:
                raise SpoolFullError(f"spool holds {self._pending_bytes} bytes (limit {self.max_bytes})")
            if self._write_offset >= self.segment_bytes:
                self._rotate()
            self._file.write(record)
            self._write_offset += len(record)
            self._pending_bytes += len(record)
            self._oldest_append.setdefault(self._segment, self.clock())
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
        self._file = open(self._segment_path(self._segment), "ab")  # noqa: SIM115
        _fsync_directory(self.directory)

    # -- delivery side -----------------------------------------------------------------------

    def read(self, max_lines: int = 10_000) -> list[Record]:
        """Durable records after the cursor, up to about ``max_lines`` lines, oldest first."""
        records: list[Record] = []
        lines = 0
        segment, offset = self._cursor
        synced = self._synced
        while (segment, offset) < synced and lines < max_lines:
            path = self._segment_path(segment)
            if not path.exists():
                segment, offset = segment + 1, 0
                continue
            end = synced[1] if segment == synced[0] else path.stat().st_size
            if offset >= end:
                segment, offset = segment + 1, 0
                continue
            with open(path, "rb") as handle:
                handle.seek(offset)
                while offset < end and lines < max_lines:
                    record = _read_record(handle, segment)
                    if record is None:
                        # corruption inside a durable segment (disk fault): skip its rest rather
                        # than block delivery forever; the count shows up in the metrics
                        self.corrupt_segments += 1
                        segment, offset = segment + 1, 0
                        break
                    offset = handle.tell()
                    records.append(Record(segment, offset, record[0], record[1]))
                    lines += record[1].count(b"\n") + 1
        return records

    def commit(self, record: Record) -> None:
        """Mark everything up to ``record`` as delivered; fully delivered segments are deleted.

        The cursor is replaced atomically but not fsynced: losing its last update in a power cut
        only re-delivers a batch, which InfluxDB stores once (same series, same timestamps).
        """
        _write_atomically(self.directory / "cursor", f"{record.segment} {record.offset}", durable=False)
        with self._lock:
            self._cursor = (record.segment, record.offset)
            for old in self._segments():
                if old < record.segment:
                    self._segment_path(old).unlink(missing_ok=True)
                    self._oldest_append.pop(old, None)
            if self._cursor >= (self._segment, self._write_offset):
                # all delivered: the next append starts the age again, in this segment too
                self._oldest_append.pop(self._segment, None)
            self._pending_bytes = self._measure_pending()

    # -- introspection -----------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def oldest_age_s(self, now: float | None = None) -> float:
        """Age of the oldest undelivered segment's first append (0 when empty or unknown)."""
        if self._cursor >= self._synced or not self._oldest_append:
            return 0.0
        return max(0.0, (now or self.clock()) - min(self._oldest_append.values()))

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


def spool_lines(spool: Spool, lines_by_policy: Mapping[str, list[str]]) -> tuple[int, int] | None:
    """The ingestion stage: one record per retention policy (``raw`` is the database's default one).

    Returns the position to ``sync`` before acknowledging, or None when there was nothing to write.
    Raises SpoolFullError.
    """
    position = None
    for policy, lines in lines_by_policy.items():
        position = spool.write("\n".join(lines).encode(), "" if policy == "raw" else policy)
    return position


def _read_record(handle, segment: int) -> tuple[str, bytes] | None:
    header = handle.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    magic, length, crc = HEADER.unpack(header)
    payload = handle.read(length)
    if magic != MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
        return None
    policy, _, lines = payload.partition(b"\n")
    return policy.decode(), lines


def _write_atomically(path: Path, text: str, durable: bool = True) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
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
