"""Evaluate Alertmanager ``time_intervals`` (parsed and validated in ``config.timeintervals``).

An interval holds if any of its entries holds; an entry holds if each of its fields does, read in the
entry's ``location`` (so "Tuesday 02:00-04:00 Europe/Paris" follows daylight saving time).
Times of day are half-open: ``02:00-04:00`` covers 02:00:00 up to, not including, 04:00:00.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from collections.abc import Iterable

from config.timeintervals import TimeIntervalConfig, TimeIntervalSpec, parse_range


class Entry:
    def __init__(self, spec: TimeIntervalSpec) -> None:
        self.times = [t.minutes() for t in spec.times]
        self.weekdays = [parse_range("weekday", w) for w in spec.weekdays]
        self.days = [parse_range("day of month", d) for d in spec.days_of_month]
        self.months = [parse_range("month", m) for m in spec.months]
        self.years = [parse_range("year", y) for y in spec.years]
        self.zone = None if spec.location.lower() == "local" else zoneinfo.ZoneInfo(spec.location)

    def contains(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        if self.times and not any(start <= minute < end for start, end in self.times):
            return False
        if self.weekdays and not _within(local.weekday(), self.weekdays):
            return False
        if self.months and not _within(local.month, self.months):
            return False
        if self.years and not _within(local.year, self.years):
            return False
        return not self.days or any(self._day_in(local, low, high) for low, high in self.days)

    @staticmethod
    def _day_in(local: dt.datetime, low: int, high: int) -> bool:
        # negative days count from the month's end: -1 is the last day
        length = calendar.monthrange(local.year, local.month)[1]
        low = low if low > 0 else length + low + 1
        high = high if high > 0 else length + high + 1
        return low <= local.day <= high


class TimeInterval:
    """A named interval: ``contains(datetime)``; an interval with no entry never holds."""

    def __init__(self, name: str, specs: Iterable[TimeIntervalSpec]) -> None:
        self.name = name
        self.entries = [Entry(spec) for spec in specs]

    def contains(self, at: dt.datetime | float) -> bool:
        if not isinstance(at, dt.datetime):
            at = dt.datetime.fromtimestamp(at, dt.UTC)
        return any(entry.contains(at) for entry in self.entries)


def build(configs: Iterable[TimeIntervalConfig]) -> dict[str, TimeInterval]:
    return {config.name: TimeInterval(config.name, config.time_intervals) for config in configs}


def _within(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(low <= value <= high for low, high in ranges)
