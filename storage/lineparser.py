"""Parse InfluxDB line protocol, one line at a time (the collector's InfluxDB-compatible writes, the
rules engine's write stream).

The grammar is InfluxDB 1.x's, not Python's: ``float()`` and ``int()`` take ``+1``, ``1_0``,
``inf`` and Unicode digits (``١٢``, and ``²`` for ``isdigit``), which InfluxDB refuses. A line
this parser reads must be one InfluxDB reads too (tests/collector/test_differential.py holds the
collector to it against a real influxd), so numbers and timestamps are matched with ASCII
patterns first, and only then converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FieldValue = float | int | bool | str


@dataclass(slots=True)
class Point:
    """One measurement sample: what InfluxDB stores as one line."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int | None = None


PRECISION_NS = {"ns": 1, "n": 1, "us": 1_000, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_UNESCAPE = re.compile(r"\\([,= \\\"])")
_INT64 = (-(2**63), 2**63 - 1)
TIME_RANGE_NS = (-(2**63) + 2, 2**63 - 2)  # InfluxDB's MinNanoTime and MaxNanoTime
# InfluxDB's number syntax: an optional minus, digits with at most one point (digits on one side at
# least), an optional exponent; integers end in 'i'. [0-9] is ASCII only, unlike \d or isdigit().
FLOAT_TEXT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
INTEGER_TEXT = re.compile(r"-?[0-9]+i")
TIME_TEXT = re.compile(r"-?[0-9]+")
BOOLEAN_TEXT = {
    "t": True,
    "T": True,
    "true": True,
    "True": True,
    "TRUE": True,
    "f": False,
    "F": False,
    "false": False,
    "False": False,
    "FALSE": False,
}


def strip_line(raw: str) -> str:
    """InfluxDB skips leading spaces and tabs and ignores trailing spaces; any other whitespace
    (a CR of a CRLF body, a trailing tab) stays in the line, where InfluxDB refuses it, and so do we."""
    return raw.lstrip(" \t").rstrip(" ")


def parse_line(line: str, scale: int = 1) -> Point:
    key, fields_text, time_text = _split_sections(line)
    measurement, tags = _parse_key(key)
    fields = _parse_fields(fields_text)
    time_ns = parse_time(time_text, scale) if time_text else None
    return Point(measurement, tags, fields, time_ns)


def parse_time(text: str, scale: int = 1) -> int:
    """A timestamp in nanoseconds; ValueError unless InfluxDB would take it too."""
    if TIME_TEXT.fullmatch(text) is None:
        raise ValueError(f"invalid timestamp {text!r}")
    time_ns = int(text) * scale
    if not TIME_RANGE_NS[0] <= time_ns <= TIME_RANGE_NS[1]:
        raise ValueError(f"timestamp {text!r} out of range")
    return time_ns


def _split_sections(line: str) -> tuple[str, str, str]:
    if "\\" not in line and '"' not in line:  # fast path: no escapes, no strings
        parts = line.split(" ")
        if len(parts) == 2:
            return parts[0], parts[1], ""
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        raise ValueError("expected 'measurement[,tags] fields [timestamp]'")
    sections, current, quoted, escaped = [], [], False, False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"' and len(sections) == 1:
            quoted = not quoted
            current.append(char)
        elif char == " " and not quoted:
            sections.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise ValueError("unterminated string field")
    sections.append("".join(current))
    sections = [s for s in sections if s != ""] if len(sections) > 3 else sections
    if len(sections) not in (2, 3) or not sections[1]:
        raise ValueError("expected 'measurement[,tags] fields [timestamp]'")
    return sections[0], sections[1], sections[2] if len(sections) == 3 else ""


def _split_unescaped(text: str, separator: str, quotes: bool = True) -> list[str]:
    """Split at unescaped ``separator``s; inside double quotes too unless ``quotes`` (string fields)."""
    if "\\" not in text and ('"' not in text or not quotes):
        return text.split(separator)
    parts, current, escaped, quoted = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"' and quotes:
            quoted = not quoted
            current.append(char)
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text) if "\\" in text else text


def _parse_key(key: str) -> tuple[str, dict[str, str]]:
    parts = _split_unescaped(key, ",", quotes=False)  # a quote in a key is a plain character
    measurement = _unescape(parts[0])
    if not measurement:
        raise ValueError("missing measurement name")
    tags = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=") if "\\" not in part else _partition_unescaped(part)
        if not sep or not name or not value:
            raise ValueError(f"invalid tag {part!r}: expected key=value")
        if value[-1] == "\\" or name[-1] == "\\":
            raise ValueError(f"invalid tag {part!r}: a tag key or value cannot end with a backslash")
        if "=" in (value if "\\" not in value else value.replace("\\=", "")):
            raise ValueError(f"invalid tag {part!r}: '=' in a tag value must be escaped")
        name = _unescape(name)
        if name in tags:
            raise ValueError(f"duplicate tag {name!r}")
        tags[name] = _unescape(value)
    return measurement, tags


def _partition_unescaped(text: str) -> tuple[str, str, str]:
    index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == "=":
            return text[:index], "=", text[index + 1 :]
        index += 1
    return text, "", ""


def _parse_fields(text: str) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    for part in _split_unescaped(text, ","):
        name, sep, value = part.partition("=") if "\\" not in part else _partition_unescaped(part)
        if not sep or not name or value == "":
            raise ValueError(f"invalid field {part!r}: expected key=value")
        fields[_unescape(name)] = parse_field_value(value)
    return fields


def parse_field_value(text: str) -> FieldValue:
    """One field value: a string, an integer (``12i``), a boolean or a float, spelled as InfluxDB
    1.x accepts them. Unsigned integers (``12u``) are refused: InfluxDB 1.x refuses them too."""
    if text[0] == '"':
        if len(text) < 2 or text[-1] != '"':
            raise ValueError(f"unterminated string field value {text!r}")
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if text[-1] == "i" and INTEGER_TEXT.fullmatch(text):
        number = int(text[:-1])
        if not _INT64[0] <= number <= _INT64[1]:
            raise ValueError(f"integer field value {text!r} out of range")
        return number
    boolean = BOOLEAN_TEXT.get(text)
    if boolean is not None:
        return boolean
    if FLOAT_TEXT.fullmatch(text) is None:
        raise ValueError(f"invalid field value {text!r}")
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"invalid field value {text!r}: out of the 64-bit float range")
    return number
