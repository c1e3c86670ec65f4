"""Durations written the way ops write them: ``10s``, ``3m``, ``1h30m``, ``7d``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; a bare number is taken as seconds.

    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like '3m', got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"expected a duration like '3m', got {text!r}")
        return float(text)
    cleaned = str(text).strip()
    if not _DURATION.match(cleaned):
        raise ValueError(f"expected a duration like '3m', got {text!r}")
    return float(sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned)))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 5400 -> ``1h30m``; used in InfluxQL and messages."""
    if seconds == 0:
        return "0s"
    if seconds != int(seconds):
        return f"{int(round(seconds * 1000))}ms"
    remaining, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts)
