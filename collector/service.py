"""The ingestion pipeline behind the HTTP layer: validate -> rate-limit -> spool.

The HTTP layer (collector/app.py) authenticates (collector/auth.py), reads the body
(collector/body.py) and decodes it (collector/decode.py, by payload version); this service owns
the stateful stages that follow, each one a module of its own: validation (collector/validate.py,
or collector/fastlines.py for line protocol), the per-box rate limit (collector/ratelimit.py) and
the durable spool (collector/spool.py). Everything here is synchronous.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from collector.fastlines import validate_body
from collector.metrics import CollectorMetrics
from collector.model import Decoded, LineError
from collector.ratelimit import RateLimiter
from collector.spool import Spool, spool_lines
from collector.validate import Accepted, Validator
from collector.writer import SpoolWriter
from config.collector import CollectorConfig
from inventory import Box, Registry
from storage import InfluxClient

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    accepted: int
    errors: list[LineError]
    position: tuple[int, int] | None = None  # spool position to sync before acknowledging

    @property
    def rejected(self) -> int:
        return len(self.errors)


class IngestService:
    """Owns the registry, spool, writer and limiter; ``start()`` opens them, ``stop()`` closes them."""

    def __init__(
        self,
        config: CollectorConfig,
        influx: InfluxClient,
        *,
        registry: Registry,
        retention_s: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics or CollectorMetrics()
        self.registry = registry
        self.spool = Spool(config.spool_dir, max_bytes=config.spool_max_bytes, clock=clock)
        # each measurement's age limit is its own retention policy's (0 or absent: kept forever)
        self.validator = Validator(
            config.schema_,
            max_future_s=config.max_future,
            retention_s=retention_s,
            age_margin_s=config.age_margin,
            max_series_per_box=config.max_series_per_box,
        )
        self.limiter = RateLimiter(config.rate_limit.points_per_s, config.rate_limit.burst_points, clock)
        self.writer = SpoolWriter(
            self.spool,
            influx,
            self.metrics,
            batch_lines=config.batch_lines,
            idle_wait_s=config.flush_interval,
            dead_letter_max_bytes=config.dead_letter_max_bytes,
            clock=clock,
        )
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self._warned: dict[tuple[str, str], dt.date] = {}
        self._started = False

    def start(self) -> IngestService:
        self.registry.open()
        self.spool.open()
        self.writer.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.writer.stop()
        self.flush_seen()
        self.spool.close()
        self.registry.close()

    def authenticate(self, token: str | None) -> Box | None:
        """The inventory's token check, for the authenticate stage (collector/auth.py)."""
        return self.registry.authenticate(token) if token else None

    def ingest(self, box: Box, decoded: Decoded, source: str = "push") -> IngestResult:
        """Validate, rate-limit and durably spool; returns only once accepted data is fsynced.

        ``source`` is ``push`` for a box's request, ``scrape`` for the scraper (which alone writes
        the measurements the schema marks so). Raises ForbiddenError (another box's data),
        RateLimited (collector/ratelimit.py), or SpoolFullError.
        """
        return self._synced(self.accept(box, decoded, source))

    def ingest_lines(self, box: Box, body: str, precision: str) -> IngestResult:
        """Like ``ingest`` for a line-protocol body, on the fast path."""
        return self._synced(self.accept_lines(box, body, precision))

    def accept(self, box: Box, decoded: Decoded, source: str = "push") -> IngestResult:
        """Validate and write to the spool; the caller must ``spool.sync(result.position)`` before
        acknowledging (the HTTP layer does so through the group committer, without a thread hop)."""
        now = self.clock()
        return self._spool(box, self.validator.check(box, decoded, int(now * 1e9), source), now)

    def accept_lines(self, box: Box, body: str, precision: str) -> IngestResult:
        now = self.clock()
        return self._spool(box, validate_body(self.validator, box, body, precision, int(now * 1e9)), now)

    def _synced(self, result: IngestResult) -> IngestResult:
        if result.position is not None:
            self.spool.sync(result.position)
        return result

    def _spool(self, box: Box, accepted: Accepted, now: float) -> IngestResult:
        position = None
        if accepted.count:
            self.limiter.admit(box.jbox_id, accepted.count)
            position = spool_lines(self.spool, accepted.lines_by_policy)
            self.writer.notify()
            with self._seen_lock:
                self._seen[box.jbox_id] = now
        self.metrics.points.labels("accepted", "").inc(accepted.count)
        for error in accepted.errors:
            self.metrics.points.labels("rejected", error.category).inc()
        return IngestResult(accepted.count, accepted.errors, position)

    def flush_seen(self) -> None:
        """Persist last-contact times in one transaction (called periodically, not per request)."""
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        if seen:
            self.registry.mark_seen(seen.items())

    def should_warn_deprecated(self, jbox_id: str, version: str) -> bool:
        """True once per box, version and day: the log warning for deprecated payloads."""
        today = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()
        key = (jbox_id, version)
        if self._warned.get(key) == today:
            return False
        self._warned[key] = today
        return True
