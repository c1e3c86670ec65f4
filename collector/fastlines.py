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
from collector.model import Decoded, LineError
from collector.scope import BoxScope, MissingBox, Scope, scope_of
from collector.validate import Accepted, Refused, Validator
from inventory import Box

_MISSING = object()


class _Fallback(Exception):
    """This line is not plain: the general path decides, and names any fault exactly."""


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


def validate_body(validator: Validator, scope: Box | Scope, body: str, precision: str, now_ns: int) -> Accepted:
    """Validate and normalise a line-protocol body for what ``scope`` may write (a box or a gateway)."""
    scope = scope_of(scope)
    own = scope.box if isinstance(scope, BoxScope) else None
    scale = PRECISION_NS[precision]
    accepted = Accepted()
    keys: dict[str, tuple | None] = {}
    # checked keys outlive the request: a gateway's batch names thousands of series, each seen
    # again in its next batch. Per principal, since the answer depends on who writes; cleared by
    # the service when the inventory changes (a box moved, a gateway rebound).
    known = validator.line_keys.setdefault(scope.box if own is not None else scope.gateway, {})
    newest = now_ns + validator.max_future_ns
    oldest = now_ns - validator.max_age_ns if validator.max_age_ns is not None else -(2**63)
    out = accepted.lines_by_policy
    for number, raw in enumerate(body.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        parts = line.split(" ")
        try:
            if "\\" in line or '"' in line or len(parts) not in (2, 3):
                raise _Fallback
            entry = keys.get(parts[0], _MISSING)
            if entry is _MISSING:
                entry = known.get(parts[0], _MISSING)
                if entry is _MISSING:
                    entry = _check_key(validator, scope, parts[0])  # raises ForbiddenError: never cached
                    if len(known) >= 100_000:  # bounded: keys repeat, hostile input need not
                        known.clear()
                    known[parts[0]] = entry
                keys[parts[0]] = entry
            if entry is None:
                raise _Fallback
            policy, key, types, plain, box = entry
            fields = parts[1] if plain(parts[1]) else _fields(parts[1], types)
            time_ns = int(parts[2]) * scale if len(parts) == 3 else now_ns
            if not oldest <= time_ns <= newest:
                raise _Fallback
        except (_Fallback, ValueError):
            _general(validator, scope, accepted, number, line, scale, now_ns)
            continue
        out[policy].append(f"{key} {fields} {time_ns}")
        accepted.count += 1
        if box is not own:
            accepted.boxes.add(box.jbox_id)
    return accepted


def _check_key(validator: Validator, scope: Scope, key: str) -> tuple | None:
    """(retention policy, normalised key, field types, plain-fields matcher, box), or None when the
    key is not acceptable as it is (the general path then reports why, line by line). Raises
    ForbiddenError when the key names a box the token may not write."""
    try:
        point = parse_line(f"{key} x=0")
    except ValueError:
        return None
    try:
        box = scope.box_for(point.tags.get("jbox_id"))
    except MissingBox:
        return None
    schema = validator.schema.get(point.measurement)
    if schema is None:
        return None
    try:
        series = validator.series_key(box, point.measurement, point.tags, schema)
    except Refused:
        return None
    matcher = _plain_fields_matcher(point.measurement, schema.fields)
    return schema.retention_policy, series, schema.fields, matcher, box


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
        name, _, value = part.partition("=")
        kind = types.get(name)
        if kind is None or not value:
            raise _Fallback
        if (
            kind == "float"
            and value.replace(".", "", 1).lstrip("-").isdigit()
            and value[-1] != "."
            and (value[0] != "." and value[:2] != "-.")
        ):
            encoded.append(part)  # a plain decimal: already canonical line protocol
            continue
        encoded.append(f"{name}={_value(value, kind)}")
    return ",".join(encoded)


def _value(value: str, kind: str) -> str:
    """The canonical spelling of ``value`` as a ``kind`` field; _Fallback when it is not one."""
    if value[-1] in "iu" and value[:-1].lstrip("-").isdigit():
        number = int(value[:-1])
        if -(2**63) <= number < 2**63:
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
            raise _Fallback from None
        if math.isfinite(number):
            if kind == "float":
                return repr(number)
            if kind == "integer" and number.is_integer() and abs(number) < 2**53:
                return f"{int(number)}i"
    raise _Fallback


def _general(
    validator: Validator, scope: Scope, accepted: Accepted, number: int, line: str, scale: int, now_ns: int
) -> None:
    decoded = Decoded()
    try:
        decoded.points.append((number, parse_line(line, scale)))
    except ValueError as exc:
        decoded.errors.append(LineError(number, str(exc), line, "parse"))
    result = validator.check(scope, decoded, now_ns)
    for policy, lines in result.lines_by_policy.items():
        accepted.lines_by_policy[policy].extend(lines)
    accepted.count += result.count
    accepted.errors.extend(result.errors)
    accepted.boxes |= result.boxes
