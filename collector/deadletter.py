"""The dead-letter store: lines InfluxDB refused for good, one by one, with reason, box and time.

The collector validates every line against InfluxDB's own grammar and limits before it answers
2xx, so a refusal here means something changed behind its back (a field's type altered by another
writer, a retention policy shortened, data delayed past its policy by a long outage). Those lines
are kept for an operator, who inspects them and re-sends them after the fix
(``jboxmon deadletter list|replay|purge``).

Format (version 1): ``dead-letter.jsonl`` in the spool directory, one JSON object per line::

    {"v": 1, "time": 1764480000.0, "box": "jbox-0001", "policy": "raw",
     "reason": "partial write: field type conflict ...", "line": "telemetry,jbox_id=... soc_pct=1 ..."}

Only the refused lines are stored, never their batch: :func:`isolate_refused` splits a refused
batch until each refused line stands alone (re-sending the accepted ones is harmless: InfluxDB
identifies a point by series and timestamp, and the spool fixed both). The store is bounded:
past half of ``max_bytes`` the file becomes ``dead-letter.1.jsonl`` (replacing the older one),
so at most ``max_bytes`` are kept and the newest refusals survive. Files are created 0600; an
exclusive ``flock`` on ``dead-letter.lock`` serialises the collector's appends and the
command's rewrites.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from storage import InfluxError

FORMAT_VERSION = 1
CURRENT = "dead-letter.jsonl"
PREVIOUS = "dead-letter.1.jsonl"
_BOX = re.compile(rb"^[^ ]*?,jbox_id=([^, ]+)")


@dataclass(frozen=True)
class DeadLetter:
    """One refused line and why."""

    time: float
    box: str
    policy: str
    reason: str
    line: str

    def to_json(self) -> str:
        return json.dumps({"v": FORMAT_VERSION, **asdict(self)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DeadLetter:
        data = json.loads(text)
        if data.get("v") != FORMAT_VERSION:
            raise ValueError(f"dead letter of format {data.get('v')!r}, this version reads {FORMAT_VERSION}")
        return cls(data["time"], data["box"], data["policy"], data["reason"], data["line"])


def box_of(line: bytes) -> str:
    """The ``jbox_id`` tag of a spooled line (always set: the collector writes it from the registry)."""
    match = _BOX.match(line)
    return match.group(1).decode() if match else ""


def isolate_refused(
    write: Callable[[bytes], None], lines: list[bytes], refused: InfluxError | None = None
) -> list[tuple[bytes, InfluxError]]:
    """Write ``lines``; return the ones InfluxDB refuses for good, each with its own error.

    A refused batch is split in halves until each refused line stands alone; ``refused`` is the
    error the whole batch already got (it is then not sent again). Retryable errors propagate: an
    outage is not a refusal.
    """
    if refused is None:
        try:
            write(b"\n".join(lines))
            return []
        except InfluxError as exc:
            if exc.retryable:
                raise
            refused = exc
    if len(lines) == 1 or refused.dropped == len(lines):  # each line refused alike: no need to split
        return [(line, refused) for line in lines]
    middle = len(lines) // 2
    return isolate_refused(write, lines[:middle]) + isolate_refused(write, lines[middle:])


class DeadLetterStore:
    """Append, read and rewrite the dead letters of one spool directory; safe across processes."""

    def __init__(self, directory: Path | str, *, max_bytes: int = 64 << 20, clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.clock = clock

    @property
    def path(self) -> Path:
        return self.directory / CURRENT

    def add(self, refused: list[tuple[bytes, InfluxError]], policy: str) -> list[DeadLetter]:
        """Store refused lines (as returned by :func:`isolate_refused`); returns what was stored."""
        now = self.clock()
        letters = [
            DeadLetter(now, box_of(line), policy or "raw", _reason(error), line.decode(errors="replace"))
            for line, error in refused
        ]
        if not letters:
            return letters
        records, budget = [], self.max_bytes // 2
        for letter in letters:  # one huge refusal must not break the bound: the excess is not stored
            record = (letter.to_json() + "\n").encode()
            if len(record) > budget:
                break
            records.append(record)
            budget -= len(record)
        data = b"".join(records)
        with self._locked():
            if self.path.exists() and self._size(CURRENT) + len(data) > self.max_bytes // 2:
                os.replace(self.path, self.directory / PREVIOUS)
            with _open_private(self.path, os.O_WRONLY | os.O_APPEND) as handle:
                handle.write(data)
        return letters[: len(records)]

    def entries(self) -> list[DeadLetter]:
        """Every stored dead letter, oldest first."""
        with self._locked():
            return list(self._read_all())

    def rewrite(self, keep: Callable[[DeadLetter], bool]) -> list[DeadLetter]:
        """Keep only the letters ``keep`` accepts (in one file); returns the ones removed."""
        with self._locked():
            letters = list(self._read_all())
            kept = [letter for letter in letters if keep(letter)]
            temporary = self.directory / (CURRENT + ".tmp")
            temporary.unlink(missing_ok=True)
            with _open_private(temporary, os.O_WRONLY | os.O_EXCL) as handle:
                handle.write("".join(letter.to_json() + "\n" for letter in kept).encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            (self.directory / PREVIOUS).unlink(missing_ok=True)
        return [letter for letter in letters if not keep(letter)]

    def size_bytes(self) -> int:
        return self._size(CURRENT) + self._size(PREVIOUS)

    def _read_all(self) -> Iterator[DeadLetter]:
        for name in (PREVIOUS, CURRENT):
            try:
                text = (self.directory / name).read_text(errors="replace")
            except FileNotFoundError:
                continue
            for raw in text.splitlines():
                try:
                    yield DeadLetter.from_json(raw)
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: the rest stays readable

    def _size(self, name: str) -> int:
        try:
            return (self.directory / name).stat().st_size
        except FileNotFoundError:
            return 0

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _open_private(self.directory / "dead-letter.lock", os.O_RDWR) as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _open_private(path: Path, flags: int):
    """Open (creating 0600 if needed) without a window where the file is readable by others."""
    return os.fdopen(os.open(path, flags | os.O_CREAT, 0o600), "rb+" if flags & os.O_RDWR else "ab")


def _reason(error: InfluxError) -> str:
    text = str(error)
    return text if len(text) <= 500 else text[:497] + "..."
