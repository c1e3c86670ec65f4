"""The line-protocol hot path: validate and normalise lines without building objects.

Most lines a JBOX or Telegraf sends are plain (no escapes, no string fields), and a request's
lines share a handful of series keys. So each distinct key is parsed and checked once per
request, and each line costs a split and a check per field. Lines with escapes or quotes take
the general path (``lineparser`` + ``Validator``), which gives the same result, just slower; a
test compares both paths on the same input.
"""

from __future__ import annotations

import re

from collector.lineparser import (
    BOOLEAN_TEXT,
    FLOAT_TEXT,
    INTEGER_TEXT,
    PRECISION_NS,
    TIME_TEXT,
    parse_line,
    strip_line,
)
from collector.model import Decoded, LineError
from collector.validate import Accepted, ForbiddenError, Refused, Validator
from inventory import Box


class _Fallback(Exception):
    """This line is not plain: the general path decides, and names any fault exactly."""


def validate_body(
    validator: Validator, box: Box, body: str, precision: str, now_ns: int, source: str = "push"
) -> Accepted:
    scale = PRECISION_NS[precision]
    accepted = Accepted()
    keys: dict[str, tuple | None] = {}
    newest = validator.newest_ns(now_ns)
    out = accepted.lines_by_policy
    for number, raw in enumerate(body.split("\n"), start=1):
        line = strip_line(raw)
        if not line or line[0] == "#":
            continue
        parts = line.split(" ")
        try:
            if "\\" in line or '"' in line or len(parts) not in (2, 3):
                raise _Fallback
            if parts[0] not in keys:
                keys[parts[0]] = _check_key(validator, box, parts[0], now_ns, source)
            entry = keys[parts[0]]
            if entry is None:
                raise _Fallback
            policy, key, types, plain, oldest = entry
            fields = parts[1] if plain(parts[1]) else _fields(parts[1], types)
            if len(parts) == 3:
                if not TIME_TEXT.fullmatch(parts[2]):
                    raise _Fallback
                time_ns = int(parts[2]) * scale
            else:
                time_ns = now_ns
            if not oldest <= time_ns <= newest:
                raise _Fallback
        except _Fallback:
            _general(validator, box, accepted, number, line, scale, now_ns, source)
            continue
        out[policy].append(f"{key} {fields} {time_ns}")
        accepted.count += 1
    return accepted


def _check_key(validator: Validator, box: Box, key: str, now_ns: int, source: str) -> tuple | None:
    """(retention policy, normalised key, field types, plain-fields matcher, oldest time), or None
    when the key is not acceptable as it is (the general path then reports why, line by line)."""
    try:
        point = parse_line(f"{key} x=0")
    except ValueError:
        return None
    claimed = point.tags.get("jbox_id")
    if claimed is not None and claimed != box.jbox_id:
        raise ForbiddenError(f"this token belongs to {box.jbox_id!r} and cannot write data of {claimed!r}")
    try:
        schema = validator.measurement(point.measurement, source)
        series = validator.series_key(box, point.measurement, point.tags, schema)
    except Refused:
        return None
    matcher = _plain_fields_matcher(point.measurement, schema.fields)
    return schema.retention_policy, series, schema.fields, matcher, validator.oldest_ns(schema.retention_policy, now_ns)


_MATCHERS: dict[tuple, object] = {}


def _plain_fields_matcher(measurement: str, types: dict[str, str]):
    """A compiled regex accepting a fields section that is already valid and canonical as it is:
    known names, plain decimals for floats, short integers for integers, booleans spelled t/f.
    One C-level match replaces a Python loop over the fields of the typical line."""
    signature = (measurement, tuple(sorted(types.items())))
    matcher = _MATCHERS.get(signature)
    if matcher is None:
        alternatives = []
        by_kind = {kind: [re.escape(n) for n, k in types.items() if k == kind] for kind in set(types.values())}
        if by_kind.get("float"):
            # at most 300 integer digits: a longer plain number may exceed the float range (1.8e308)
            alternatives.append(f"(?:{'|'.join(by_kind['float'])})=-?[0-9]{{1,300}}(?:\\.[0-9]+)?")
        if by_kind.get("integer"):
            alternatives.append(f"(?:{'|'.join(by_kind['integer'])})=-?[0-9]{{1,18}}i")
        if by_kind.get("boolean"):
            alternatives.append(f"(?:{'|'.join(by_kind['boolean'])})=(?:true|false)")
        if not alternatives:
            matcher = _never
        else:
            field = "(?:" + "|".join(alternatives) + ")"
            matcher = re.compile(f"{field}(?:,{field})*").fullmatch
        _MATCHERS[signature] = matcher
    return matcher


def _never(text: str) -> None:
    return None


def _fields(text: str, types: dict[str, str]) -> str:
    """The fields section as it came, when every value is spelled as InfluxDB reads it and has
    the schema's type; _Fallback otherwise (the general path names the fault)."""
    for part in text.split(","):
        name, _, value = part.partition("=")
        kind = types.get(name)
        if kind is None or not value:
            raise _Fallback
        if kind == "float":
            if not FLOAT_TEXT.fullmatch(value) or abs(float(value)) == float("inf"):
                raise _Fallback
        elif kind == "integer":
            if not INTEGER_TEXT.fullmatch(value) or not -(2**63) <= int(value[:-1]) < 2**63:
                raise _Fallback
        elif kind != "boolean" or value not in BOOLEAN_TEXT:
            raise _Fallback
    return text


def _general(
    validator: Validator, box: Box, accepted: Accepted, number: int, line: str, scale: int, now_ns: int, source: str
) -> None:
    decoded = Decoded(strict_types=True)
    try:
        decoded.points.append((number, parse_line(line, scale)))
    except ValueError as exc:
        decoded.errors.append(LineError(number, str(exc), line, "parse"))
    result = validator.check(box, decoded, now_ns, source)
    for policy, lines in result.lines_by_policy.items():
        accepted.lines_by_policy[policy].extend(lines)
    accepted.count += result.count
    accepted.errors.extend(result.errors)
