"""The line-protocol hot path: validate and normalise lines without building objects.

Most lines a JBOX or Telegraf sends are plain (no escapes, no string fields), and a request's
lines share a handful of series keys. So each distinct key is parsed and checked once per
request, and each line costs a split and a check per field. Lines with escapes or quotes take
the general path (``lineparser`` + ``Validator``), which gives the same result, just slower; a
test compares both paths on the same input.
"""

from __future__ import annotations

import math
import re

from collector.lineparser import PRECISION_NS, parse_line
from collector.model import LineError, Point
from collector.registry import Box
from collector.validate import Accepted, ForbiddenError, Refused, Validator

_FLOAT_OK = {"float"}
_BOOL_TEXT = {
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


def validate_body(validator: Validator, box: Box, body: str, precision: str, now_ns: int) -> Accepted:
    scale = PRECISION_NS[precision]
    accepted = Accepted()
    keys: dict[str, tuple[str, str, dict] | Refused] = {}
    newest = now_ns + validator.max_future_ns
    oldest = now_ns - validator.max_age_ns if validator.max_age_ns is not None else -(2**63)
    out = accepted.lines_by_policy
    for number, raw in enumerate(body.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        parts = line.split(" ")
        if "\\" in line or '"' in line or len(parts) not in (2, 3):
            _general(validator, box, accepted, number, line, scale, now_ns)
            continue
        try:
            entry = keys.get(parts[0])
            if entry is None:
                entry = keys[parts[0]] = _check_key(validator, box, parts[0], now_ns)
            if isinstance(entry, Refused):
                raise entry
            policy, key, types, plain = entry
            fields = parts[1] if plain(parts[1]) else _fields(parts[1], types)
            if len(parts) == 3:
                try:
                    time_ns = int(parts[2]) * scale
                except ValueError:
                    raise Refused(f"invalid timestamp {parts[2]!r}", "parse") from None
                if time_ns > newest:
                    raise Refused(f"timestamp is {(time_ns - now_ns) / 1e9:.0f}s in the future", "timestamp")
                if time_ns < oldest:
                    raise Refused(
                        f"timestamp is {(now_ns - time_ns) / 86400e9:.1f} days old, beyond raw retention", "timestamp"
                    )
            else:
                time_ns = now_ns
        except Refused:
            # the general path names the fault exactly as it would have (first fault in line order)
            _general(validator, box, accepted, number, line, scale, now_ns)
            continue
        out[policy].append(f"{key} {fields} {time_ns}")
        accepted.count += 1
    return accepted


def _check_key(validator: Validator, box: Box, key: str, now_ns: int) -> tuple | Refused:
    """(retention policy, normalised key, field types, plain-fields matcher) for a key, or why it is refused."""
    try:
        point = parse_line(f"{key} x=0")
    except ValueError as exc:
        return Refused(str(exc), "parse")
    claimed = point.tags.get("jbox_id")
    if claimed is not None and claimed != box.jbox_id:
        raise ForbiddenError(f"this token belongs to {box.jbox_id!r} and cannot write data of {claimed!r}")
    schema = validator.schema.get(point.measurement)
    if schema is None:
        return Refused(
            f"measurement {point.measurement!r} is not accepted (allowed: {', '.join(validator.schema)})", "schema"
        )
    try:
        tags = validator._tags(box, Point(point.measurement, point.tags, {}), schema)
    except Refused as exc:
        return exc
    from storage.lineprotocol import encode_tags, escape_measurement

    return (
        schema.retention_policy,
        escape_measurement(point.measurement) + encode_tags(tags),
        schema.fields,
        _plain_fields_matcher(point.measurement, schema.fields),
    )


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
            alternatives.append(f"(?:{'|'.join(by_kind['float'])})=-?[0-9]+(?:\\.[0-9]+)?")
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
    encoded = []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        kind = types.get(name)
        if kind is None:
            if not sep or not name:
                raise Refused(f"invalid field {part!r}: expected key=value", "parse")
            raise Refused(f"field {name!r} is not accepted (allowed: {', '.join(types)})", "schema")
        if (
            kind == "float"
            and value.replace(".", "", 1).lstrip("-").isdigit()
            and value[-1] != "."
            and (value[0] != "." and value[:2] != "-.")
        ):
            encoded.append(part)  # a plain decimal: already canonical line protocol
            continue
        if not value:
            raise Refused(f"invalid field {part!r}: expected key=value", "parse")
        encoded.append(f"{name}={_value(name, value, kind)}")
    return ",".join(encoded)


def _value(name: str, value: str, kind: str) -> str:
    last = value[-1]
    if last in "iu" and value[:-1].lstrip("-").isdigit():
        number = int(value[:-1])
        if not -(2**63) <= number < 2**63:
            raise Refused(f"integer field value {value!r} out of range", "parse")
        if kind == "integer":
            return f"{number}i"
        if kind == "float":
            return repr(float(number))
    elif value in _BOOL_TEXT:
        if kind == "boolean":
            return "true" if _BOOL_TEXT[value] else "false"
    else:
        try:
            number = float(value)
        except ValueError:
            raise Refused(f"invalid field value {value!r}", "parse") from None
        if not math.isfinite(number):
            raise Refused(f"invalid field value {value!r}: NaN and infinity cannot be stored", "parse")
        if kind == "float":
            return repr(number)
        if kind == "integer" and number.is_integer() and abs(number) < 2**53:
            return f"{int(number)}i"
    raise Refused(f"field {name!r} must be {kind}, got {value!r}", "type")


def _general(
    validator: Validator, box: Box, accepted: Accepted, number: int, line: str, scale: int, now_ns: int
) -> None:
    from collector.model import Decoded

    decoded = Decoded()
    try:
        decoded.points.append((number, parse_line(line, scale)))
    except ValueError as exc:
        decoded.errors.append(LineError(number, str(exc), line, "parse"))
    result = validator.check(box, decoded, now_ns)
    for policy, lines in result.lines_by_policy.items():
        accepted.lines_by_policy[policy].extend(lines)
    accepted.count += result.count
    accepted.errors.extend(result.errors)
