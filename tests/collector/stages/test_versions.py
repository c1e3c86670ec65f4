"""Stage: the payload version's lifecycle (Deprecation, Sunset, then 410)."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.versions import Gone, check_version
from config.collector import PayloadVersionPolicy

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC).timestamp()


def test_a_current_version_gets_no_headers() -> None:
    assert check_version(PayloadVersionPolicy(), "v2", NOW) == {}
    assert check_version(None, "v2", NOW) == {}


def test_a_deprecated_version_is_told_its_successor_and_sunset() -> None:
    policy = PayloadVersionPolicy(deprecated_since=dt.date(2026, 11, 1), sunset=dt.date(2027, 6, 1))
    headers = check_version(policy, "v1", NOW)
    assert headers == {
        "Link": '</v2/telemetry>; rel="successor-version"',
        "Deprecation": f"@{int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())}",
        "Sunset": "Tue, 01 Jun 2027 00:00:00 GMT",
    }


def test_a_version_past_its_sunset_is_gone() -> None:
    policy = PayloadVersionPolicy(deprecated_since=dt.date(2026, 1, 1), sunset=dt.date(2026, 11, 30))
    with pytest.raises(Gone, match="payload v1 was retired on 2026-11-30: send /v2/telemetry instead") as gone:
        check_version(policy, "v1", NOW)
    assert gone.value.headers["Sunset"] == "Mon, 30 Nov 2026 00:00:00 GMT"
