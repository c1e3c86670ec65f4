"""Payload version lifecycle: Deprecation and Sunset headers (RFC 9745, RFC 8594), then 410."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

from collector.payloads import LATEST
from config.collector import PayloadVersionPolicy


class Gone(Exception):
    """The payload version is past its sunset: 410, the message names the successor."""

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers


def check_version(policy: PayloadVersionPolicy | None, version: str, now: float) -> dict[str, str]:
    """The ingestion stage: the lifecycle headers to answer with; raises Gone for a retired version."""
    headers, gone = version_headers(policy, version, now)
    if gone:
        raise Gone(gone, headers)
    return headers


def version_headers(policy: PayloadVersionPolicy | None, version: str, now: float) -> tuple[dict[str, str], str]:
    """(headers to add, a 'gone' message when the version is retired, else '')."""
    if policy is None or (policy.deprecated_since is None and policy.sunset is None):
        return {}, ""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    headers = {"Link": f'</{LATEST}/telemetry>; rel="successor-version"'}
    if policy.deprecated_since is not None and policy.deprecated_since <= today:
        headers["Deprecation"] = f"@{_epoch(policy.deprecated_since)}"
    if policy.sunset is not None:
        headers["Sunset"] = format_datetime(_midnight(policy.sunset), usegmt=True)
        if policy.sunset <= today:
            return headers, f"payload {version} was retired on {policy.sunset}: send /{LATEST}/telemetry instead"
    if "Deprecation" not in headers:
        return {}, ""
    return headers, ""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _epoch(day: dt.date) -> int:
    return int(_midnight(day).timestamp())
