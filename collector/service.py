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
from pathlib import Path

from collector.fastjson import V2FastPath
from collector.fastlines import validate_body
from collector.metrics import CollectorMetrics
from collector.model import Decoded, LineError
from collector.ratelimit import RateLimiter
from collector.scope import GATEWAY_KEY, ForbiddenError, Scope, scope_of, writes_json
from collector.spool import Spool, spool_lines
from collector.validate import Accepted, Validator
from collector.writer import SpoolWriter
from config.collector import CollectorConfig
from inventory import Principal, Registry, TokenCache
from storage import InfluxClient
from storage.supervision import Supervisor

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
        adopted_spools: list[Path] = (),
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics or CollectorMetrics()
        self._accepted_points = self.metrics.points.labels("accepted", "")  # labels() costs a lookup per call
        self.registry = registry
        # every background loop of the collector (writers, fsync, token refresh, scraper, chores):
        # counted in /metrics, restarted with backoff, named by /health while dead or stuck
        self.loops = Supervisor("collector", self.metrics.registry)
        # authentication from memory; a token issued, rotated or revoked elsewhere is seen within
        # ``token_refresh`` (see inventory/cache.py)
        self.tokens = TokenCache(registry, refresh_s=config.token_refresh, clock=clock, loops=self.loops)
        self.spool = Spool(config.spool_dir, max_bytes=config.spool_max_bytes, clock=clock)
        # each measurement's age limit is its own retention policy's (0 or absent: kept forever)
        self.validator = Validator(
            config.schema_,
            max_future_s=config.max_future,
            retention_s=retention_s,
            age_margin_s=config.age_margin,
            max_series_per_box=config.max_series_per_box,
        )
        self.fast_json = {"v2": V2FastPath(self.validator)}  # payload version -> its typed one-pass decoder
        self.limiter = RateLimiter(config.rate_limit.points_per_s, config.rate_limit.burst_points, clock)
        self.writer = SpoolWriter(
            self.spool,
            influx,
            self.metrics,
            batch_lines=config.batch_lines,
            idle_wait_s=config.flush_interval,
            dead_letter_max_bytes=config.dead_letter_max_bytes,
            clock=clock,
            loops=self.loops,
        )
        # spools left by another worker layout (collector.workers changed): delivered, never appended to
        self.adopted = [
            SpoolWriter(
                Spool(path, max_bytes=config.spool_max_bytes, clock=clock),
                influx,
                self.metrics,
                clock=clock,
                loops=self.loops,
                name=f"spool-writer:{path.name}",
            )
            for path in adopted_spools
        ]
        self._inventory_seen = -1  # the token cache's reload count the line-key cache was built on
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self._warned: dict[tuple[str, str], dt.date] = {}
        self._started = False

    def start(self) -> IngestService:
        self.registry.open()
        self.tokens.start()
        self.spool.open()
        self.writer.start()
        for writer in self.adopted:
            writer.spool.open()
            log.info("delivering the spool left in %s (%d bytes)", writer.spool.directory, writer.spool.pending_bytes)
            writer.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.writer.stop()
        for writer in self.adopted:
            writer.stop()
            writer.spool.close()
        self.tokens.stop()
        try:
            self.flush_seen()
        except Exception as exc:  # the inventory is away: stopping must still close the spool
            log.warning("last-seen times of %d boxes not written at stop: %s", len(self._seen), exc)
        self.spool.close()
        self.registry.close()

    def authenticate(self, token: str | None) -> Principal | None:
        """The inventory's token check (from memory), for the authenticate stage (collector/auth.py)."""
        return self.tokens.authenticate(token)

    def scope(self, principal: Principal | Scope) -> Scope:
        """What an authenticated box or gateway may write (collector/scope.py)."""
        return scope_of(principal, self.tokens.box, self.tokens.covered)

    def ingest(self, box: Principal | Scope, decoded: Decoded, source: str = "push") -> IngestResult:
        """Validate, rate-limit and durably spool; returns only once accepted data is fsynced.

        ``source`` is ``push`` for a box's request, ``scrape`` for the scraper (which alone writes
        the measurements the schema marks so). Raises ForbiddenError (another box's data),
        RateLimited (collector/ratelimit.py), or SpoolFullError.
        """
        return self._synced(self.accept(box, decoded, source))

    def ingest_lines(self, box: Principal | Scope, body: str, precision: str) -> IngestResult:
        """Like ``ingest`` for a line-protocol body, on the fast path."""
        return self._synced(self.accept_lines(box, body, precision))

    def accept(self, box: Principal | Scope, decoded: Decoded, source: str = "push") -> IngestResult:
        """Validate and write to the spool; the caller must ``spool.sync(result.position)`` before
        acknowledging (the HTTP layer does so through the group committer, without a thread hop)."""
        scope = self.json_scope(box)
        now = self.clock()
        return self._spool(scope, self.validator.check(scope, decoded, int(now * 1e9), source), now)

    def accept_fast(self, version: str, box: Principal | Scope, body: bytes) -> IngestResult | None:
        """A JSON body on its payload version's fast path, when it has one; None when the body is
        not plain (the caller then decodes it and calls ``accept``: the exact per-sample answer)."""
        fast = self.fast_json.get(version)
        if fast is None:
            return None
        scope = self.json_scope(box)
        now = self.clock()
        accepted = fast.accept(scope.box, body, int(now * 1e9))
        return None if accepted is None else self._spool(scope, accepted, now)

    def accept_lines(self, box: Principal | Scope, body: str, precision: str) -> IngestResult:
        if self.tokens.reloads != self._inventory_seen:  # the inventory changed: re-check every key
            self._inventory_seen = self.tokens.reloads
            self.validator.line_keys.clear()
        scope = self.scope(box)
        now = self.clock()
        return self._spool(scope, validate_body(self.validator, scope, body, precision, int(now * 1e9)), now)

    def json_scope(self, principal: Principal | Scope) -> Scope:
        """The scope of a JSON payload's writer: a box (a site gateway's token is refused, 403)."""
        self.check_json_writer(principal)
        return self.scope(principal)

    @staticmethod
    def check_json_writer(principal: Principal | Scope) -> None:
        """A JSON payload's writer is a box: a site gateway's token is refused (403)."""
        if not writes_json(principal):
            raise ForbiddenError("a gateway token writes line protocol (/write, /api/v2/write), not JSON payloads")

    def _synced(self, result: IngestResult) -> IngestResult:
        if result.position is not None:
            self.spool.sync(result.position)
        return result

    def _spool(self, scope: Scope, accepted: Accepted, now: float) -> IngestResult:
        position = None
        if accepted.count:
            # a gateway's bucket holds the points of every box behind it: per box, the same limit
            self.limiter.admit(scope.key, accepted.count, scale=getattr(scope, "covered", 1))
            position = spool_lines(self.spool, accepted.lines_by_policy, accepted.count)
            self.writer.notify()
            with self._seen_lock:
                self._seen[scope.key] = now  # a gateway's key keeps its "gateway:" prefix
                for jbox_id in accepted.boxes:
                    self._seen[jbox_id] = now
        self._accepted_points.inc(accepted.count)
        for error in accepted.errors:
            self.metrics.points.labels("rejected", error.category).inc()
        return IngestResult(accepted.count, accepted.errors, position)

    def flush_seen(self) -> None:
        """Persist last-contact times in one transaction (called periodically, not per request)."""
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        if not seen:
            return
        boxes, gateways = [], []
        for key, when in seen.items():
            if key.startswith(GATEWAY_KEY):
                gateways.append((key[len(GATEWAY_KEY) :], when))
            else:
                boxes.append((key, when))
        try:
            # boxes and gateways apart: one UPDATE per contact, not one per table and contact
            self.registry.mark_seen(boxes, gateways)
        except Exception:
            # the inventory is away (PostgreSQL restarting): keep the times for the next round
            with self._seen_lock:
                for key, when in seen.items():
                    if self._seen.get(key, 0.0) < when:
                        self._seen[key] = when
            raise

    def should_warn_deprecated(self, jbox_id: str, version: str) -> bool:
        """True once per box, version and day: the log warning for deprecated payloads."""
        today = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()
        key = (jbox_id, version)
        if self._warned.get(key) == today:
            return False
        self._warned[key] = today
        return True
