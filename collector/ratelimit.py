"""Per-box token buckets, counted in points, so one chatty box cannot starve the others."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RateLimited(Exception):
    """A box sent more points than its bucket holds: 429 with Retry-After; nothing was taken."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limit exceeded: retry after {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class RateLimiter:
    """``take(key, points)`` returns None when allowed, else the seconds to wait (for Retry-After)."""

    def __init__(self, points_per_s: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = points_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated_at)
        self._lock = threading.Lock()

    def take(self, key: str, points: int) -> float | None:
        now = self.clock()
        # a request bigger than the bucket waits for a full bucket rather than never passing
        needed = min(points, self.burst)
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
            if tokens < needed:
                self._buckets[key] = (tokens, now)
                return (needed - tokens) / self.rate
            self._buckets[key] = (tokens - points, now)
            return None

    def admit(self, key: str, points: int) -> None:
        """The ingestion stage: take ``points`` from ``key``'s bucket or raise RateLimited."""
        wait = self.take(key, points)
        if wait is not None:
            raise RateLimited(wait)
