"""The small stages alone: matcher syntax and semantics, time intervals across zones and month ends,
route inheritance, and the dedup rule."""

from __future__ import annotations

import datetime as dt

import pytest

from alerting.dedup import needs_update
from alerting.matchers import Matcher, parse
from alerting.outbox import LogEntry
from alerting.route import build
from alerting.timeintervals import TimeInterval
from config.alerting import RouteConfig
from config.timeintervals import TimeIntervalSpec


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('site="s1"', {"site": "s1"}, True),
        ("site=s1", {"site": "s1"}, True),
        ('site!="s1"', {}, True),
        ('site=""', {}, True),  # a missing label matches as empty
        ('site=~"s1|s2"', {"site": "s2"}, True),
        ('site=~"s1"', {"site": "s10"}, False),  # anchored at both ends
        ('site!~"s.*"', {"site": "x"}, True),
        ('{alertname="A", severity=~"crit.*"}', {"alertname": "A", "severity": "critical"}, True),
        ('{alertname="A", severity=~"crit.*"}', {"alertname": "A", "severity": "warning"}, False),
        ('msg="a \\"quoted\\", comma"', {"msg": 'a "quoted", comma'}, True),
    ],
)
def test_matchers(text: str, labels: dict, expected: bool) -> None:
    assert all(m.matches(labels) for m in parse(text)) is expected


@pytest.mark.parametrize("bad", ["site", "site==x", 'site=~"("', "{site=x", 'a="b" c="d"'])
def test_bad_matchers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(bad)


def test_matcher_api_round_trip() -> None:
    for op in ("=", "!=", "=~", "!~"):
        matcher = Matcher("a", op, "b.*")
        assert Matcher.from_api(matcher.to_api()) == matcher
        assert parse(str(matcher)) == [matcher]


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_time_interval_fields() -> None:
    last_days = TimeInterval("t", [TimeIntervalSpec(days_of_month=["-2:-1"], months=["february"], years=["2028"])])
    assert last_days.contains(_at("2028-02-28T12:00:00+00:00"))  # a leap year: the 28th is second to last
    assert not last_days.contains(_at("2028-02-27T12:00:00+00:00"))
    assert not last_days.contains(_at("2027-02-28T12:00:00+00:00"))
    hours = [{"start_time": "09:00", "end_time": "17:00"}]
    weekdays = TimeInterval("w", [TimeIntervalSpec(weekdays=["monday:friday"], times=hours)])
    assert weekdays.contains(_at("2026-12-04T16:59:00+00:00"))  # a Friday
    assert not weekdays.contains(_at("2026-12-04T17:00:00+00:00"))  # end excluded
    assert not weekdays.contains(_at("2026-12-05T10:00:00+00:00"))  # a Saturday


def test_time_interval_follows_daylight_saving_time() -> None:
    spec = TimeIntervalSpec(weekdays=["tuesday"], times=[{"start_time": "02:00", "end_time": "04:00"}],
                            location="Europe/Paris")  # fmt: skip
    window = TimeInterval("m", [spec])
    assert window.contains(_at("2026-12-01T01:30:00+00:00"))  # winter: Paris is UTC+1
    assert window.contains(_at("2026-07-07T00:30:00+00:00"))  # summer: UTC+2
    assert not window.contains(_at("2026-07-07T02:30:00+00:00"))
    # the local day decides: 23:30 UTC Monday is already Tuesday 00:30 in Paris, outside the times
    assert not window.contains(_at("2026-11-30T23:30:00+00:00"))


def test_route_inheritance() -> None:
    root = build(RouteConfig.model_validate({
        "receiver": "a", "group_by": ["alertname"], "group_wait": "5s",
        "routes": [{"matchers": ["team=ops"], "group_by": ["..."], "repeat_interval": "1h",
                    "routes": [{"matchers": ["severity=critical"], "receiver": "pager"}]}],
    }))  # fmt: skip
    [leaf] = root.match({"team": "ops", "severity": "critical", "jbox_id": "j1"})
    assert (leaf.receiver, leaf.group_by, leaf.group_wait, leaf.repeat_interval) == ("pager", None, 5, 3600)
    assert leaf.group_labels({"team": "ops", "jbox_id": "j1"}) == {"team": "ops", "jbox_id": "j1"}
    [other] = root.match({"team": "dev"})
    assert (other.receiver, other.group_by) == ("a", ("alertname",))


def test_dedup_rule() -> None:
    entry = LogEntry({"a", "b"}, set(), 1000.0)
    assert needs_update(None, {"a"}, set(), True, 3600, 1001)
    assert not needs_update(None, set(), {"a"}, True, 3600, 1001)  # never told, only resolved: nothing to say
    assert needs_update(entry, {"a", "b", "c"}, set(), True, 3600, 1001)  # something new fires
    assert not needs_update(entry, {"a", "b"}, set(), True, 3600, 1001)  # nothing changed
    assert needs_update(entry, {"a"}, {"b"}, True, 3600, 1001)  # b resolved, receiver wants to know
    assert not needs_update(entry, {"a"}, {"b"}, False, 3600, 1001)  # ... unless it does not
    assert needs_update(entry, set(), {"a", "b"}, False, 3600, 1001)  # all resolved: always (clears the log)
    assert needs_update(entry, {"a", "b"}, set(), True, 3600, 1000 + 3600)  # repeat interval passed
