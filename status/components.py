"""Judge one service from its ``GET /health``: up, degraded or down, with the reason it gives.

Every jboxmon service answers ``/health`` with JSON. The collector and the rules engine say
``{"status": "ok"}`` or ``{"status": "degraded: <why>"}`` (the collector with 503 while it spools);
the retention runner says ``{"last_pass": ..., "last_error": ...}`` and 503 after a failed pass.
A service that answers at all, even 503 with a reason, is alive and only *degraded*; one that does
not answer, answers garbage or an error page without a reason is *down*. Nothing here raises: a
failure is a state to show, never an exception page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from status.model import DEGRADED, DISABLED, DOWN, UP, ComponentStatus
from storage.http import HttpClient, HttpError, HttpSettings

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
REASON_CHARS = 300  # a reason is one line on the page, not a traceback
HEALTH_BYTES = 64 * 1024  # a /health answer is a few hundred bytes; more is not a health answer


@dataclass(frozen=True)
class Target:
    """A service to watch: its name, its base URL, and whether this installation runs it."""

    name: str
    url: str
    enabled: bool = True


def check(target: Target, http: HttpClient, clock: Callable[[], float] = time.time) -> ComponentStatus:
    """Ask ``target``'s ``/health`` once (``http`` holds the timeout and the size bound)."""
    if not target.enabled:
        return ComponentStatus(target.name, target.url, DISABLED, "disabled in the config", clock())
    started = time.monotonic()
    try:
        response = http.request("GET", target.url.rstrip("/") + "/health", check=False)
    except HttpError as exc:
        reason = failure_reason(exc, http.settings.timeout_s)
        return ComponentStatus(target.name, target.url, DOWN, reason, clock(), time.monotonic() - started)
    latency = time.monotonic() - started
    state, reason = judge(response.status_code, _json_or_none(response))
    return ComponentStatus(target.name, target.url, state, _short(reason), clock(), latency)


def judge(status: int, body: object) -> tuple[str, str]:
    """(state, reason) from a ``/health`` answer's status code and decoded JSON (None if not JSON)."""
    said = _reason_in(body)
    if 200 <= status < 300:
        if said is None or said == "ok":
            return UP, ""
        return DEGRADED, said  # a 200 saying anything else ("degraded: last reload failed") is its own judgement
    if said is not None and status in (429, 503):
        return DEGRADED, said  # alive and explaining itself: the service is up but not well
    # a proxy's error page, a 404 (not a jboxmon service there), a crash: nothing to trust
    return DOWN, f"/health answered {status}" + (f": {said}" if said else "")


def failure_reason(exc: HttpError, timeout_s: float) -> str:
    """One line an operator can act on, instead of urllib3's nested repr of the same fact."""
    text = str(exc)
    if exc.status is None and "timed out" in text:
        return f"no answer within {timeout_s:g}s (timed out)"
    errno = _ERRNO.search(text)
    if exc.status is None and errno:  # connection refused, name not known, network unreachable...
        return f"unreachable: {errno.group(1).strip()}"
    if "answer larger than" in text:
        return text[text.index("answer larger than") :]
    return _short(text)


def _reason_in(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    if body.get("last_error"):  # the retention runner: the last pass failed
        return f"last pass failed: {body['last_error']}"
    status = body.get("status")
    return str(status) if status is not None else None


def _json_or_none(response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def health_client(timeout_s: float, verify: bool | str = True) -> HttpClient:
    """An HttpClient for health checks: short timeout, bounded answer (a huge body is not health).
    ``verify``: TLS verification of https upstreams (True, False or a CA bundle path)."""
    settings = HttpSettings(timeout_s=timeout_s, max_response_bytes=HEALTH_BYTES, verify=verify)
    return HttpClient(settings=settings)
