"""The simulated time span: start, length and step, all in integer milliseconds since the epoch.

Time is injected: the model never reads the wall clock. Whoever builds a window decides where it sits
(``jboxmon simulate`` ends a backfill at the current hour, live mode starts now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class SimWindow:
    """``steps`` samples at ``start_ms + k * interval_ms`` for k in ``range(steps)``.

    >>> w = SimWindow(start_ms=1_764_428_400_000, duration_s=60, interval_s=10)
    >>> w.steps, w.end_ms - w.start_ms
    (6, 60000)
    """

    start_ms: int
    duration_s: float
    interval_s: float

    def __post_init__(self) -> None:
        if self.interval_s < 0.1:
            raise ValueError(f"interval must be at least 100ms, got {self.interval_s}s")
        if self.duration_s < self.interval_s:
            raise ValueError(f"duration ({self.duration_s}s) must be at least one interval ({self.interval_s}s)")

    @property
    def interval_ms(self) -> int:
        return int(round(self.interval_s * 1000))

    @property
    def steps(self) -> int:
        return int(round(self.duration_s * 1000)) // self.interval_ms

    @property
    def duration_ms(self) -> int:
        return self.steps * self.interval_ms

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def time_ms(self, step: int) -> int:
        return self.start_ms + step * self.interval_ms

    @classmethod
    def ending_at_hour(cls, now: datetime, duration_s: float, interval_s: float) -> SimWindow:
        """A window ending at ``now`` floored to the hour, so reruns within the hour are identical."""
        end_ms = (to_ms(now) // HOUR_MS) * HOUR_MS
        return cls(end_ms - int(round(duration_s * 1000)), duration_s, interval_s)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(round(moment.timestamp() * 1000))


def parse_time(text: str) -> int:
    """Epoch ms of an ISO-8601 time such as ``2026-11-29T16:00:00Z``; without an offset it is UTC."""
    try:
        return to_ms(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValueError(f"expected an ISO-8601 time like '2026-11-29T16:00:00Z', got {text!r}") from exc


def rfc3339(ms: int, *, always_ms: bool = False) -> str:
    """``2026-11-29T16:00:00Z``; milliseconds shown when not zero or when ``always_ms``."""
    seconds, millis = divmod(int(ms), 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if millis or always_ms:
        text += f".{millis:03d}"
    return text + "Z"
