"""Storage failures that say whether retrying can help."""

from __future__ import annotations

import re

_PARTIAL_WRITE = re.compile(r"unable to parse '(?P<line>.*?)': (?P<why>[^\n]*?)(?: dropped=\d+)?$", re.S)
_DROPPED = re.compile(r"dropped=(\d+)")


class InfluxError(Exception):
    """A failed call to InfluxDB.

    ``retryable`` is the only thing a caller should branch on: True for outages (refused
    connection, timeout, 5xx), False when the request itself is wrong and would fail again.
    ``slow`` tells a busy server (connected, no answer in time) from a down one, so a big job can
    split its query instead of giving up, and a message says "slow", not "unreachable".
    The message is one line an operator can act on: what failed, where, and what to try.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        first_bad_line: str | None = None,
        dropped: int | None = None,
        slow: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.slow = slow
        self.status = status
        self.first_bad_line = first_bad_line
        self.dropped = dropped

    @classmethod
    def from_transport(cls, url: str, exc: Exception, *, slow: bool, timeout_s: float, what: str = "") -> InfluxError:
        """No answer at all: down (refused, unknown host) or slow (connected, no answer in time)."""
        if slow:
            doing = f" to {what}" if what else ""
            return cls(
                f"InfluxDB at {url} is slow: connected, but no answer{doing} within {timeout_s:g}s "
                "(influxdb.timeout); it is up but busy: try again later, or raise influxdb.timeout",
                retryable=True,
                slow=True,
            )
        reason = str(exc).split(" unreachable: ", 1)[-1]
        return cls(
            f"InfluxDB at {url} is unreachable ({reason}): is influxd running there? check influxdb.url",
            retryable=True,
        )

    @classmethod
    def from_response(cls, status: int, body: str, url: str = "") -> InfluxError:
        """Classify an HTTP error answer from ``/write`` or ``/query``."""
        error = _error_text(body)
        where = f" at {url}" if url else ""
        if status in (401, 403):
            return cls(
                f"InfluxDB{where} refused the credentials ({status}: {error}): check influxdb.username and "
                "influxdb.password, or influxdb.token",
                retryable=False,
                status=status,
            )
        # 5xx: the server is sick or overloaded; the same request may succeed later.
        # 429/503 are the throttling answers of InfluxDB 2.x/3.x and of proxies.
        retryable = status >= 500 or status == 429
        first_bad_line = None
        match = _PARTIAL_WRITE.search(error)
        if match:
            first_bad_line = match.group("line")
        dropped_match = _DROPPED.search(error)
        dropped = int(dropped_match.group(1)) if dropped_match else None
        hint = "; create it with `jboxmon db init`" if "database not found" in error else ""
        return cls(
            f"InfluxDB{where} answered {status}: {error}{hint}",
            retryable=retryable,
            status=status,
            first_bad_line=first_bad_line,
            dropped=dropped,
        )

    @property
    def missing_target(self) -> bool:
        """True when the database or retention policy written to does not exist (InfluxDB started
        with an empty data directory, or it was dropped): re-creating it makes the write succeed."""
        text = str(self)
        return "database not found" in text or "retention policy not found" in text

    @property
    def credentials_refused(self) -> bool:
        """True for 401/403: our credentials, not the data, are wrong; every line would fail alike."""
        return self.status in (401, 403)

    @property
    def partial_write(self) -> bool:
        """True when InfluxDB kept the valid lines of the batch and dropped the rest."""
        return self.status == 400 and "partial write" in str(self)


def _error_text(body: str) -> str:
    import json

    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()[:2000]
    if isinstance(decoded, dict):
        return str(decoded.get("error") or decoded.get("message") or decoded)[:2000]
    return str(decoded)[:2000]
