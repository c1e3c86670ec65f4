"""The limits of the collector's HTTP server (collector/http11.py), and what a client sees at each.

| limit | beyond it |
|---|---|
| ``head_timeout_s``: the request line and headers, from their first byte | 408, connection closed |
| ``body_timeout_s`` + ``body_min_rate``: the body must keep at least that rate after a grace | 408, closed |
| ``keep_alive_s``: an idle connection between requests | closed, no answer |
| ``max_connections`` (and the open-file limit less a reserve) | 503 + Retry-After, closed |
| ``max_connections_per_client``: connections from one address | 503 + Retry-After, closed |
| ``inflight_body_bytes``: bodies read but not yet answered, all connections | 503 + Retry-After, closed |
| ``max_body_bytes``: one body, declared or streamed | 413, closed |

Every refusal is one answer, written in turn after the answers already owed on the connection,
and the connection is closed after it: the unread rest of the request cannot be framed any more.
A connection closed after a refusal first "lingers" (nginx's ``lingering_close``): it stops sending,
reads and discards what the client still sends for up to ``linger_s``, then closes, so the client
reads its answer instead of a reset. Nothing of a refused body is kept in memory.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

DESCRIPTOR_RESERVE = 64  # open files kept for the spool, InfluxDB, the registry and logs, whatever the load
RAISED_NOFILE = 65536  # the soft open-file limit the server asks for (never above the hard limit)


@dataclass(frozen=True)
class HttpLimits:
    """The server's bounds; the collector builds them from ``collector.http`` (config/collector.py)."""

    max_body_bytes: int = 10 << 20
    keep_alive_s: float = 30.0
    head_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    body_min_rate: float = 16 * 1024  # bytes/s, averaged over the body, once ``body_timeout_s`` has passed
    max_connections: int = 4096
    max_connections_per_client: int = 1024  # 0: no per-address cap (behind a proxy every client is one address)
    inflight_body_bytes: int = 128 << 20
    linger_s: float = 2.0
    max_lingering: int = 256  # beyond, a refused connection is closed at once (an attacker's flood ties up no more)

    def body_overdue(self, elapsed_s: float, received: int) -> bool:
        """True when a body has been arriving for ``elapsed_s`` too slowly: past the grace, slower
        than ``body_min_rate`` on average (a 10 MB body at the default rate may take 10 + 640 s)."""
        return elapsed_s > self.body_timeout_s + received / self.body_min_rate


def descriptor_budget(limits: HttpLimits) -> tuple[int, int]:
    """The connection cap and the number of lingering closes, within the open-file limit less a
    reserve, so that accepting clients can never starve the spool of file descriptors (nor make
    accept() fail with EMFILE): beyond the cap a new connection is answered 503 and closed at once.
    Raises the soft limit first, as far as the hard limit allows, since the usual soft 1,024 is far
    below what a fleet needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = RAISED_NOFILE if hard == resource.RLIM_INFINITY else min(hard, RAISED_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # not allowed here: the current limit it is
            pass
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections, limits.max_lingering
    reserve = max(DESCRIPTOR_RESERVE, soft // 4)  # half of it may linger, half stays free
    return max(1, min(limits.max_connections, soft - reserve)), min(limits.max_lingering, reserve // 2)
