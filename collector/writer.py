"""Deliver the spool to InfluxDB in order, in large batches, retrying outages forever.

Replays are safe: a point is identified in InfluxDB by series and timestamp, and timestamps are
fixed before spooling, so writing a batch twice (crash between write and cursor commit) stores it
once.

What stops delivery is retried, never dead-lettered: an outage; a missing database or retention
policy (InfluxDB started with an empty data directory, or it was wiped), which is re-created and
the batch written again; refused credentials. While it lasts, ``healthy`` is False and ``problem``
says why (shown on ``/health``). Only lines InfluxDB refuses for good, one by one, go to the
dead-letter store (collector/deadletter.py), each with its reason; the rest of their batch lands.

Batches are full: the writer is woken when ``batch_lines`` lines are pending, and otherwise
delivers what there is every ``flush_interval`` (``idle_wait_s``). Waking it on every append made
it POST a hundred small batches a second under load, each with its own cursor commit, which cost
more CPU than the requests themselves. A backlog (after an outage or a restart) is read in full
batches back to back, without waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from collector.deadletter import DeadLetterStore, isolate_refused
from collector.metrics import CollectorMetrics
from collector.spool import Record, Spool
from storage import InfluxClient, InfluxError
from storage.supervision import Loop, Supervisor

log = logging.getLogger(__name__)

# One write's body stays well under influxd's max-body-size (25 MB by default) whatever the lines'
# length: ``batch_lines`` counts lines, this bounds their bytes.
MAX_WRITE_BYTES = 8 << 20


class SpoolWriter:
    """A background thread moving spooled batches into InfluxDB; ``stop()`` is idempotent."""

    def __init__(
        self,
        spool: Spool,
        client: InfluxClient,
        metrics: CollectorMetrics,
        *,
        batch_lines: int = 10_000,
        idle_wait_s: float = 0.2,
        max_backoff_s: float = 10.0,
        concurrency: int = 2,
        dead_letter_max_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        loops: Supervisor | None = None,
        name: str = "spool-writer",
        stall_after_s: float = 60.0,
    ) -> None:
        self.spool = spool
        self.client = client
        self.metrics = metrics
        self.batch_lines = batch_lines
        self.idle_wait_s = idle_wait_s
        self.max_backoff_s = max_backoff_s
        self.concurrency = concurrency
        # wall time stamps dead letters; monotonic time bounds the drain on stop. Backoff waits are
        # real waits on an Event (stop interrupts them), and write durations are metrics, not logic.
        self.clock = clock
        self.monotonic = monotonic
        self.dead_letters = DeadLetterStore(spool.directory, max_bytes=dead_letter_max_bytes, clock=clock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # supervised (storage/supervision.py): an exception other than InfluxDB's (EMFILE, a disk
        # error) is counted and the loop restarted; /health names it while it fails or is stuck
        self.loops = loops or Supervisor("collector")
        self.name = name
        self.stall_after_s = stall_after_s
        self._loop: Loop | None = None
        self._last_commit = monotonic()
        self.healthy = True
        self.problem = ""  # why delivery is stalled, while it is

    def start(self) -> None:
        self._stopping.clear()
        self._last_commit = self.monotonic()
        self._loop = self.loops.spawn(self.name, self._run, stall_after_s=self.stall_after_s, check=self.stalled)

    def notify(self) -> None:
        """Called after an append: wakes the writer once a full batch is waiting (else the timer will)."""
        if self.spool.pending_lines >= self.batch_lines and not self._wake.is_set():
            self._wake.set()

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        if self._loop is None:
            return
        deadline = self.monotonic() + drain_timeout_s
        while self.spool.pending_bytes and self.healthy and self._loop.alive and self.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        self._loop.stop(timeout_s=10)
        self._loop = None

    def stalled(self) -> str | None:
        """Delivery stopped while InfluxDB answers: data waits longer than the bound and nothing
        was committed for as long (a backlog being drained after an outage is progress)."""
        if not self.healthy:
            return None  # InfluxDB refuses or is away: /health already says so
        age = self.spool.oldest_age_s()
        quiet = self.monotonic() - self._last_commit
        if self.spool.pending_bytes and age > self.stall_after_s and quiet > self.stall_after_s:
            return f"oldest spooled record {age:.0f}s old, nothing delivered for {quiet:.0f}s while InfluxDB answers"
        return None

    def _run(self, loop: Loop) -> None:
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="influx-write") as pool:
            self._deliver_until_stopped(pool, loop)

    def _deliver_until_stopped(self, pool: ThreadPoolExecutor, loop: Loop) -> None:
        backoff = 0.1
        backlog = False  # the last read was full: more is waiting, read again at once
        while not self._stopping.is_set():
            if not backlog:
                self._wake.wait(self.idle_wait_s)
                self._wake.clear()
            records = self.spool.read(self.batch_lines * self.concurrency)
            self._update_gauges()
            lines = sum(record.count for record in records)
            backlog = lines >= self.batch_lines
            if not records:
                if not self.spool.pending_bytes:
                    self._last_commit = self.monotonic()  # nothing waits: not stalled
                loop.ok()
                continue
            try:
                # several batches in flight: InfluxDB ingests them in parallel; the cursor only
                # moves once all of them succeeded, and a retry re-sends all (idempotent)
                chunks = _chunks(records, self.batch_lines, MAX_WRITE_BYTES)
                if len(chunks) == 1:
                    self._deliver(chunks[0])  # the usual case: no thread hop
                else:
                    for future in [pool.submit(self._deliver, chunk) for chunk in chunks]:
                        future.result()
            except InfluxError as exc:
                self.healthy = False
                self.problem = _problem(exc)
                self.metrics.influx_retries.inc()
                log.warning("InfluxDB write failed (retrying in %.1fs): %s", backoff, exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                loop.ok()  # the loop works; InfluxDB does not (``healthy`` says so)
                continue
            self.healthy = True
            self.problem = ""
            backoff = 0.1
            self.spool.commit(records[-1], lines)
            self._last_commit = self.monotonic()
            loop.ok()

    def _deliver(self, records: list[Record]) -> None:
        by_policy: dict[str, list[bytes]] = defaultdict(list)
        for record in records:
            by_policy[record.retention_policy].append(record.lines)
        for policy, chunks in by_policy.items():
            body = b"\n".join(chunks)
            started = time.perf_counter()
            refused = 0
            try:
                self._send(body, policy)
            except InfluxError as exc:
                if exc.retryable:
                    raise
                refused = self._dead_letter(body, policy, exc)
            finally:
                self.metrics.influx_write.observe(time.perf_counter() - started)
            self.metrics.written.inc(body.count(b"\n") + 1 - refused)

    def _send(self, body: bytes, policy: str) -> None:
        """One write; raises a retryable InfluxError for anything that is not the lines' fault."""
        try:
            self.client.write(body, retention_policy=policy or None)
        except InfluxError as exc:
            if exc.credentials_refused:
                message = f"credentials refused: {exc}"
                raise InfluxError(message, retryable=True, status=exc.status) from exc
            if not exc.missing_target:
                raise
            log.warning("%s: re-creating the database and its retention policies", exc)
            try:
                self.client.create_database()
                self.client.write(body, retention_policy=policy or None)
            except InfluxError as again:
                if again.retryable or not (again.missing_target or again.credentials_refused):
                    raise
                message = f"database missing and not re-created: {again}"
                raise InfluxError(message, retryable=True, status=again.status) from again

    def _dead_letter(self, body: bytes, policy: str, error: InfluxError) -> int:
        """Find the refused lines of a refused batch and keep them; InfluxDB stored the others."""
        refused = isolate_refused(lambda part: self._send(part, policy), body.split(b"\n"), error)
        stored = self.dead_letters.add(refused, policy)
        boxes = sorted({letter.box for letter in stored})
        log.error(
            "InfluxDB refused %d line(s) of %s (kept in %s): %s",
            len(refused),
            ", ".join(boxes[:5]) + (" ..." if len(boxes) > 5 else ""),
            self.dead_letters.path,
            refused[0][1] if refused else error,
        )
        self.metrics.dead_letters.inc(len(refused))
        self.metrics.dead_letters_dropped.inc(len(refused) - len(stored))
        return len(refused)

    def _update_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.pending_bytes)
        self.metrics.spool_age.set(self.spool.oldest_age_s())


def _problem(error: InfluxError) -> str:
    """A short reason for /health: the status or the transport failure, not a whole traceback."""
    text = str(error)
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"InfluxDB unreachable ({text})" if error.status is None else f"InfluxDB refuses writes ({text})"


def _chunks(records: list[Record], max_lines: int, max_bytes: int) -> list[list[Record]]:
    """Consecutive records grouped into writes of at most ``max_lines`` lines and ``max_bytes``
    bytes (a single larger record is a write of its own)."""
    chunks: list[list[Record]] = [[]]
    lines = size = 0
    for record in records:
        if chunks[-1] and (lines >= max_lines or size + len(record.lines) > max_bytes):
            chunks.append([])
            lines = size = 0
        chunks[-1].append(record)
        lines += record.count
        size += len(record.lines) + 1
    return chunks
