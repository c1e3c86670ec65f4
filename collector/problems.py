"""The one table from an ingestion failure to its HTTP answer.

Every stage raises its own exception, named for what went wrong; only this table says which status,
error code and headers the client sees, and the OpenAPI document describes the same table.

Status decisions, and why:
- 400: the body as a whole cannot be read (not JSON, wrong shape, bad gzip): as InfluxDB.
- 401: no token, or unknown/revoked/expired token (``WWW-Authenticate: Token``).
- 403: the token's box differs from the data's: an authorisation problem, not a data one.
- 410: a payload version past its sunset date; the body names the replacement.
- 413 / 415: body too large / not the expected content type.
- 429 / 503 + Retry-After: rate limit / spool full. Both tell the client its data was NOT taken,
  so it must retry; we never drop silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response

from collector.auth import Unauthorized
from collector.body import PayloadTooLarge
from collector.decode import UnsupportedMediaType
from collector.model import PayloadError
from collector.ratelimit import RateLimited
from collector.spool import SpoolFullError
from collector.validate import ForbiddenError
from collector.versions import Gone


def _no_headers(exc: Exception) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Problem:
    """How one kind of failure is answered; ``code`` is InfluxDB 2.x's error code, so its clients show it."""

    status: int
    code: str
    description: str  # for the OpenAPI document
    message: Callable[[Exception], str] = str
    headers: Callable[[Exception], dict[str, str]] = _no_headers


PROBLEMS: dict[type[Exception], Problem] = {
    PayloadError: Problem(400, "invalid", "malformed body, or partial write: valid lines kept, first bad line named"),
    Unauthorized: Problem(
        401,
        "unauthorized",
        "missing, unknown, revoked or expired token",
        headers=lambda _: {"WWW-Authenticate": "Token"},
    ),
    ForbiddenError: Problem(403, "forbidden", "the data names another box than the token's"),
    Gone: Problem(410, "gone", "payload version retired (body names the replacement)", headers=lambda exc: exc.headers),
    PayloadTooLarge: Problem(413, "request too large", "body too large"),
    UnsupportedMediaType: Problem(415, "invalid", "wrong content type"),
    RateLimited: Problem(
        429,
        "too many requests",
        "rate limited (Retry-After)",
        headers=lambda exc: {"Retry-After": str(max(1, round(exc.retry_after_s)))},
    ),
    # the spool's own message (its size) is for the operator's log, not for the box
    SpoolFullError: Problem(
        503,
        "unavailable",
        "spool full (Retry-After)",
        message=lambda _: "ingestion is saturated: retry later",
        headers=lambda _: {"Retry-After": "5"},
    ),
}

HANDLED: tuple[type[Exception], ...] = tuple(PROBLEMS)


def problem_for(exc: Exception) -> Problem:
    """The table's entry for ``exc`` (or its nearest listed base class); KeyError for an unlisted one."""
    for kind in type(exc).__mro__:
        if kind in PROBLEMS:
            return PROBLEMS[kind]
    raise KeyError(type(exc).__name__)


def problem_response(exc: Exception, headers: dict[str, str]) -> Response:
    """The answer to a failed request: InfluxDB 1.x ("error") and 2.x ("code", "message") error
    shapes together, so both kinds of client show the reason; ``headers`` are added (version headers)."""
    problem = problem_for(exc)
    message = problem.message(exc)
    return JSONResponse(
        {"error": message, "code": problem.code, "message": message},
        status_code=problem.status,
        headers={**headers, **problem.headers(exc)},
    )
