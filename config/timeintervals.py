"""Alertmanager's ``time_intervals``: named sets of times of day, weekdays, days of month, months and
years in a time zone. Parsed here (so ``config check`` points at a bad range); evaluated by
``alerting.timeintervals``.

    time_intervals:
      - name: maintenance
        time_intervals:
          - weekdays: [tuesday]
            times: [{start_time: "02:00", end_time: "04:00"}]
            location: Europe/Paris
"""

from __future__ import annotations

import re
import zoneinfo

from pydantic import field_validator

from config.fields import Strict

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def clock_minutes(text: str) -> int:
    """Minutes since midnight of ``HH:MM`` (``24:00`` allowed as an end)."""
    match = _CLOCK.match(str(text))
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"expected a time of day like '02:00', got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def parse_range(kind: str, text: str) -> tuple[int, int]:
    """Inclusive ``(low, high)`` of one range entry: ``monday:friday``, ``1:5``, ``-1``, ``march``, ``2026``.

    Weekdays are 0 (Monday)..6, months 1..12, days of month -31..31 without 0 (negative = from the end).
    """
    parts = str(text).lower().split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"expected a {kind} or a range 'low:high', got {text!r}")
    values = [_one(kind, part, text) for part in parts]
    low, high = values[0], values[-1]
    if kind != "day of month" and low > high:
        raise ValueError(f"{kind} range starts after it ends, got {text!r}")
    if kind == "day of month" and (low > 0) == (high > 0) and low > high:
        raise ValueError(f"{kind} range starts after it ends, got {text!r}")
    return low, high


def _one(kind: str, part: str, text: str) -> int:
    if kind == "weekday":
        if part not in WEEKDAYS:
            raise ValueError(f"expected a weekday name like 'monday' or a range 'monday:friday', got {text!r}")
        return WEEKDAYS.index(part)
    if kind == "month" and part in MONTHS:
        return MONTHS.index(part) + 1
    try:
        number = int(part)
    except ValueError:
        raise ValueError(f"expected a {kind} or a range 'low:high', got {text!r}") from None
    bounds = {"month": (1, 12), "day of month": (-31, 31), "year": (1, 9999)}[kind]
    if not bounds[0] <= number <= bounds[1] or (kind == "day of month" and number == 0):
        raise ValueError(f"{kind} out of range {bounds[0]}..{bounds[1]}, got {text!r}")
    return number


class TimeRange(Strict):
    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        clock_minutes(value)
        return value

    def minutes(self) -> tuple[int, int]:
        return clock_minutes(self.start_time), clock_minutes(self.end_time)


class TimeIntervalSpec(Strict):
    """One entry: every given field must match (an empty field matches everything)."""

    times: list[TimeRange] = []
    weekdays: list[str] = []
    days_of_month: list[str] = []
    months: list[str] = []
    years: list[str] = []
    location: str = "UTC"

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str]) -> list[str]:
        return [_checked("weekday", item) for item in value]

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        return [_checked("day of month", item) for item in value]

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[str]) -> list[str]:
        return [_checked("month", item) for item in value]

    @field_validator("years")
    @classmethod
    def _years(cls, value: list[str]) -> list[str]:
        return [_checked("year", item) for item in value]

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[TimeRange]) -> list[TimeRange]:
        for item in value:
            start, end = item.minutes()
            if start >= end:
                raise ValueError(f"start_time must be before end_time, got {item.start_time!r}-{item.end_time!r}")
        return value

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value.lower() == "local":
            return value
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone like 'Europe/Paris', got {value!r}") from None
        return value


class TimeIntervalConfig(Strict):
    name: str
    time_intervals: list[TimeIntervalSpec]


def _checked(kind: str, value: object) -> str:
    text = str(value)
    parse_range(kind, text)
    return text
