"""Deliver the spool to InfluxDB in order, in large batches, retrying outages forever.

Replays are safe: a point is identified in InfluxDB by series and timestamp, and timestamps are
fixed before spooling, so writing a batch twice (crash between write and cursor commit) stores it
once. Lines InfluxDB refuses for good (a permanent 4xx) are moved to a dead-letter file with the
error, never dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from collector.metrics import CollectorMetrics
from collector.spool import Record, Spool
from storage import InfluxClient, InfluxError

log = logging.getLogger(__name__)


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
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
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
        self.dead_letter_path = Path(spool.directory) / "dead-letter.lp"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.healthy = True

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Called after an append so delivery starts without waiting for the idle timer."""
        self._wake.set()

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        deadline = self.monotonic() + drain_timeout_s
        while self.spool.pending_bytes and self.healthy and self.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        backoff = 0.1
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="influx-write")
        while not self._stopping.is_set():
            records = self.spool.read(self.batch_lines * self.concurrency)
            self._update_gauges()
            if not records:
                self._wake.wait(self.idle_wait_s)
                self._wake.clear()
                continue
            try:
                # several batches in flight: InfluxDB ingests them in parallel; the cursor only
                # moves once all of them succeeded, and a retry re-sends all (idempotent)
                futures = [pool.submit(self._deliver, chunk) for chunk in _chunks(records, self.batch_lines)]
                for future in futures:
                    future.result()
            except InfluxError as exc:
                self.healthy = False
                self.metrics.influx_retries.inc()
                log.warning("InfluxDB write failed (retrying in %.1fs): %s", backoff, exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            self.healthy = True
            backoff = 0.1
            self.spool.commit(records[-1])
        pool.shutdown(wait=True)

    def _deliver(self, records: list[Record]) -> None:
        by_policy: dict[str, list[bytes]] = defaultdict(list)
        for record in records:
            by_policy[record.retention_policy].append(record.lines)
        for policy, chunks in by_policy.items():
            body = b"\n".join(chunks)
            started = time.perf_counter()
            try:
                self.client.write(body, retention_policy=policy or None)
            except InfluxError as exc:
                if exc.retryable:
                    raise
                self._dead_letter(body, policy, exc)
            finally:
                self.metrics.influx_write.observe(time.perf_counter() - started)
            self.metrics.written.inc(body.count(b"\n") + 1)

    def _dead_letter(self, body: bytes, policy: str, error: InfluxError) -> None:
        # InfluxDB kept the valid lines of a partial write; the whole batch is kept here with the
        # reason so an operator can see and replay what was refused
        lines = body.count(b"\n") + 1
        log.error("InfluxDB refused part of a batch of %d lines (kept in %s): %s", lines, self.dead_letter_path, error)
        with open(self.dead_letter_path, "ab") as handle:
            handle.write(f"# {self.clock():.0f} rp={policy or 'default'} {error}\n".encode())
            handle.write(body + b"\n")
        self.metrics.dead_letters.inc(error.dropped or lines)

    def _update_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.pending_bytes)
        self.metrics.spool_age.set(self.spool.oldest_age_s())


def _chunks(records: list[Record], max_lines: int) -> list[list[Record]]:
    chunks: list[list[Record]] = [[]]
    lines = 0
    for record in records:
        if lines >= max_lines:
            chunks.append([])
            lines = 0
        chunks[-1].append(record)
        lines += record.lines.count(b"\n") + 1
    return chunks
