"""Backfill: run a scenario as fast as possible and write its history straight into InfluxDB.

Generation (main thread) overlaps with writing (a small pool of writer threads, each with its own
:class:`storage.InfluxClient`): gzip and HTTP release the GIL, and InfluxDB works on one batch while
the next one is being built. The report counts only lines InfluxDB acknowledged, so it equals what a
``SELECT count(...)`` reads back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from simulator.engine import FleetSimulator
from simulator.lineprotocol import LineEncoder
from simulator.scenario import Scenario
from storage import InfluxClient, InfluxError

MEASUREMENTS = ("telemetry", "heartbeat", "log")
WRITE_ATTEMPTS = 4


@dataclass
class BackfillReport:
    """What was written: points per measurement, wall time, and where the ground truth is."""

    points: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    ground_truth: Path | None = None
    faulty_boxes: int = 0
    boxes: int = 0

    @property
    def total(self) -> int:
        return sum(self.points.values())

    @property
    def points_per_s(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def render(self) -> str:
        lines = [f"  {name:<10} {self.points.get(name, 0):>12,d} points" for name in MEASUREMENTS]
        lines.append(
            f"  {'total':<10} {self.total:>12,d} points in {self.seconds:.1f}s ({self.points_per_s:,.0f} points/s)"
        )
        if self.ground_truth is not None:
            lines.append(f"  ground truth: {self.ground_truth} ({self.faulty_boxes} of {self.boxes} boxes faulty)")
        return "\n".join(lines)


class _Writers:
    """A bounded pool of writer threads; each thread owns one InfluxClient (sessions aren't shared)."""

    def __init__(self, client_factory: Callable[[], InfluxClient], writers: int) -> None:
        self._factory = client_factory
        self._local = threading.local()
        self._clients: list[InfluxClient] = []
        self._pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="backfill-writer")
        # Bounded in-flight batches: generation must not run far ahead of InfluxDB and fill memory.
        self._slots = threading.BoundedSemaphore(writers * 3)
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self.points: Counter[str] = Counter()

    def submit(self, lines: list[str], counts: Counter[str], retention_policy: str | None) -> None:
        failed = next((f for f in self._futures if f.done() and f.exception() is not None), None)
        if failed is not None:
            raise failed.exception()  # stop generating: this run cannot report complete counts any more
        self._slots.acquire()
        future = self._pool.submit(self._write, lines, counts, retention_policy)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures = [f for f in self._futures if not f.done() or f.exception() is not None]
        self._futures.append(future)

    def _client(self) -> InfluxClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._factory()
            with self._lock:
                self._clients.append(client)
        return client

    def _write(self, lines: list[str], counts: Counter[str], retention_policy: str | None) -> None:
        body = "\n".join(lines).encode()
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self._client().write(body, precision="ms", retention_policy=retention_policy)
                break
            except InfluxError as exc:
                # Only outages are worth retrying; a rejected batch would be rejected again.
                if not exc.retryable or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        with self._lock:
            self.points.update(counts)

    def close(self) -> None:
        """Wait for every batch; re-raise the first failure."""
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(wait=True)
            for client in self._clients:
                client.close()


class _Buffer:
    """Lines of one retention policy waiting to fill a batch, with their per-measurement counts."""

    def __init__(self, writers: _Writers, retention_policy: str | None, batch_size: int) -> None:
        self._writers, self._rp, self._size = writers, retention_policy, batch_size
        self._lines: list[str] = []
        self._counts: Counter[str] = Counter()

    def add(self, measurement: str, lines: list[str]) -> None:
        self._lines.extend(lines)
        self._counts[measurement] += len(lines)
        if len(self._lines) >= self._size:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._writers.submit(self._lines, self._counts, self._rp)
            self._lines, self._counts = [], Counter()


def run_backfill(
    scenario: Scenario,
    client_factory: Callable[[], InfluxClient],
    *,
    batch_size: int = 5000,
    writers: int = 2,
    raw_policy: str | None = None,
    logs_policy: str = "logs",
    clock: Callable[[], float] = time.perf_counter,
) -> BackfillReport:
    """Write the scenario's telemetry and heartbeats to ``raw_policy`` (None: the database default,
    ``raw``) and its logs to ``logs_policy``. The database must exist."""
    started = clock()
    pool = _Writers(client_factory, writers)
    raw, logs = _Buffer(pool, raw_policy, batch_size), _Buffer(pool, logs_policy, batch_size)
    encoder = LineEncoder(scenario.fleet)
    try:
        for step in FleetSimulator(scenario).steps():
            raw.add("telemetry", encoder.telemetry(step))
            if len(step.heartbeats):
                raw.add("heartbeat", encoder.heartbeats(step.heartbeats))
            if len(step.logs):
                logs.add("log", encoder.logs(step.logs))
        raw.flush()
        logs.flush()
    finally:
        pool.close()
    return BackfillReport(
        points={name: pool.points.get(name, 0) for name in MEASUREMENTS},
        seconds=clock() - started,
        faulty_boxes=len(scenario.plan.faulty_ids()),
        boxes=len(scenario.fleet),
    )
