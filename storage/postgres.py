"""Connections to PostgreSQL (psycopg 3), opened the one way every jboxmon user of it needs.

Short timeouts everywhere: a PostgreSQL that is away must cost a caller a quick, readable error,
never a hang (the collector keeps serving from memory meanwhile, the CLI says what failed). The
password comes from the config's secret, never from the YAML, and never appears in a message:
:func:`redact` is what errors and /health show.
"""

from __future__ import annotations

import os
import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 10_000


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be reached or answered with a connection-level failure; retrying can help."""

    retryable = True


def redact(url: str) -> str:
    """The URL with any password replaced, for messages."""
    return re.sub(r"(postgres(?:ql)?://[^:/@]+):[^@]*@", r"\1:***@", url)


def application_name(role: str) -> str:
    """Who a connection is, as pg_stat_activity shows it: what it does, on which host, which pid."""
    return f"jboxmon {role} on {socket.gethostname()} pid {os.getpid()}"[:63]


def connect(
    url: str, *, password: str | None = None, role: str = "jboxmon", autocommit: bool = True
) -> psycopg.Connection:
    """A connection with short connect and statement timeouts; raises PostgresUnavailable."""
    import psycopg  # imported here: a node on the embedded SQLite inventory never needs it loaded

    extra = {"password": password} if password is not None else {}
    try:
        return psycopg.connect(
            url,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=autocommit,
            application_name=application_name(role),
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            # a peer that vanished without a FIN is noticed in seconds, not hours
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            **extra,
        )
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(f"PostgreSQL at {redact(url)} is unreachable: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
