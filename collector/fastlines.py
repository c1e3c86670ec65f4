"""The line-protocol hot path: validate and normalise lines without building objects.

Most lines a JBOX or Telegraf sends are plain (no escapes, no string fields), and a request's
lines share a handful of series keys and one field order. So each distinct key is parsed and
checked once (the answer is kept across requests), and the lines take one of two passes:

1. runs of uniform lines: "key fields time" with the same field names in the same order as the
   run's first line, plain values, nanosecond timestamps. One C-level regex pass (compiled per
   schema and field order) checks the whole run; the distinct keys are checked from the cache
   (one key for a box's own series, many for a gateway's batch); the age window is checked on the
   smallest and largest timestamps; the output is the lines as they came, their key replaced by
   its normalised form when it differs. No Python code runs per line.
2. anything else (escapes, quotes, blank lines, comments, other field orders, other precisions),
   line by line: a split and a compiled match per line, and a line that is not plain takes the
   general path (``lineparser`` + ``Validator``), which names any fault exactly.

Both give the same result as the general path; property tests compare them on generated bodies,
and the differential test holds the collector to what a real influxd stores.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import itemgetter

from collector.model import Decoded, LineError
from collector.scope import BoxScope, ForbiddenError, MissingBox, Scope, scope_of
from collector.validate import Accepted, Refused, Validator
from inventory import Box
from storage.lineparser import (
    BOOLEAN_TEXT,
    FLOAT_TEXT,
    INTEGER_TEXT,
    PRECISION_NS,
    TIME_TEXT,
    parse_line,
    strip_line,
)

_MISSING = object()
_FIRST = itemgetter(0)
_LAST19 = itemgetter(slice(-19, None))


class _Fallback(Exception):
    """This line is not plain: the general path decides, and names any fault exactly."""


class _Key:
    """What a checked series key means for the lines that carry it."""

    __slots__ = ("box", "plain", "policy", "scanners", "series", "signature", "types")

    def __init__(self, policy: str, series: str, types: dict[str, str], box: Box) -> None:
        self.policy = policy
        self.series = series  # normalised: tags from the registry, sorted
        self.types = types  # the measurement schema's field types
        self.box = box
        self.signature = tuple(sorted(types.items()))
        self.plain = _plain_matcher(self.signature)
        self.scanners: dict[tuple[str, ...], object] = {}

    def scanners_for(self, fields: str) -> tuple | None:
        """The run matchers (``_scanners``) for lines whose fields are named as in ``fields`` (a
        run's first line's), in that order; None when ``fields`` is not such a section."""
        names = tuple([part.partition("=")[0] for part in fields.split(",")])
        scanners = self.scanners.get(names, _MISSING)
        if scanners is _MISSING:
            shape = (self.signature, names)  # compiled once per schema and field order, for every key
            scanners = _SCANNERS.get(shape, _MISSING)
            if scanners is _MISSING:
                scanners = _scanners(self.types, names)
                if len(_SCANNERS) >= 1_000:  # bounded: senders use a few field orders
                    _SCANNERS.clear()
                _SCANNERS[shape] = scanners
            if len(self.scanners) < 100:  # bounded likewise
                self.scanners[names] = scanners
        return scanners


def validate_body(
    validator: Validator, scope: Box | Scope, body: str, precision: str, now_ns: int, source: str = "push"
) -> Accepted:
    """Validate and normalise a line-protocol body for what ``scope`` may write (a box or a gateway)."""
    scope = scope_of(scope)
    own = scope.box if isinstance(scope, BoxScope) else None
    scale = PRECISION_NS[precision]
    # checked keys outlive the request: a gateway's batch names thousands of series, each seen
    # again in its next batch. Per principal and source, since the answer depends on who writes;
    # cleared by the service when the inventory changes (a box moved, a gateway rebound).
    known = validator.line_keys.setdefault((scope.box if own is not None else scope.gateway, source), {})
    accepted = Accepted()
    position, number = 0, 1  # where the lines not yet validated start in the body, and their line number
    if scale == 1 and "\\" not in body and '"' not in body:
        short = 0
        while position < len(body):
            run = _uniform(validator, scope, own, known, body, position, now_ns, source, accepted)
            if run is None:
                break
            position, number = run[0], number + run[1]
            short = short + 1 if run[1] < 16 else 0
            if short == 2:
                break  # short runs: the body is a mix, cheaper line by line than run by run
    if position < len(body):
        _line_by_line(validator, scope, own, known, body[position:], number, scale, now_ns, source, accepted)
    return accepted


def _entry(validator: Validator, scope: Scope, known: dict, key: str, source: str) -> _Key | None:
    entry = known.get(key, _MISSING)
    if entry is _MISSING:
        entry = _check_key(validator, scope, key, source)  # raises ForbiddenError: never cached
        if len(known) >= 100_000:  # bounded: keys repeat, hostile input need not
            known.clear()
        known[key] = entry
    return entry


def _entry_if_parsed(
    validator: Validator, scope: Scope, known: dict, key: str, source: str, line: str, scale: int
) -> _Key | None:
    """``_entry``, but a line that does not parse is a parse error before it is another box's data,
    as on the general path: None then (the general path names the fault), not ForbiddenError."""
    try:
        return _entry(validator, scope, known, key, source)
    except ForbiddenError:
        try:
            parse_line(line, scale)
        except ValueError:
            return None
        raise


def _uniform(
    validator: Validator,
    scope: Scope,
    own: Box | None,
    known: dict,
    body: str,
    position: int,
    now_ns: int,
    source: str,
    accepted: Accepted,
) -> tuple[int, int] | None:
    """Pass 1 on the run of uniform lines starting at ``position``: adds them to ``accepted`` and
    returns (where the run ends, its number of lines); None when there is no such run."""
    space = body.find(" ", position)
    after = body.find(" ", space + 1)
    key, fields = body[position:space], body[space + 1 : after]
    if space < 0 or after < 0 or not key or key[0] in "\t#" or "\n" in key or "\n" in fields:
        return None
    try:
        entry = _entry(validator, scope, known, key, source)
    except ForbiddenError:
        return None  # the line-by-line pass answers exactly (403, or a parse error first)
    if entry is None:
        return None
    scanners = entry.scanners_for(fields)
    if scanners is None:
        return None
    same, mixed = scanners
    end, single = _run_end(same(body, position), body, position), True
    if end is None or (end < len(body) and body.find("\n", position, end - 1) < 0):
        # one line or none under its key: the next names another series (a gateway's batch)
        other_end = _run_end(mixed(body, position), body, position)
        if other_end is not None and (end is None or other_end > end):
            end, single = other_end, False
    if end is None:
        return None
    # each line of the run is "key fields time", fields named as on its first line and plain, time 19 digits
    text = body[position:end]
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()  # the final newline
    count = len(lines)
    if not single and text.count(" ") != 2 * count:
        return None  # a "key" the scanner read across a newline: some line lacks its fields or time
    # 19 digits each: the smallest and largest timestamps are the smallest and largest strings.
    # Inside the window every line parses, so from here a key naming another box is a 403.
    if not (
        validator.oldest_ns(entry.policy, now_ns) <= int(min(map(_LAST19, lines)))
        and int(max(map(_LAST19, lines))) <= validator.newest_ns(now_ns)
    ):
        return None
    if single:  # one key: a box's own series
        entries = {key: entry}
    else:
        entries = {}
        for other in set(map(_FIRST, map(str.partition, lines, repeat(" ", count)))):
            checked = _entry(validator, scope, known, other, source)  # raises ForbiddenError
            if checked is None or checked.types is not entry.types or checked.policy != entry.policy:
                return None  # another measurement's lines: the scanner checked them against the wrong schema
            entries[other] = checked
    if len(entries) == 1:
        if key != entry.series:
            lines = map(f"{entry.series} ".__add__, map(itemgetter(slice(len(key) + 1, None)), lines))
    elif any(other != checked.series for other, checked in entries.items()):
        series = {other: checked.series for other, checked in entries.items()}
        lines = [f"{series[other]} {tail}" for other, _, tail in map(str.partition, lines, repeat(" ", count))]
    accepted.lines_by_policy[entry.policy].extend(lines)
    accepted.count += count
    accepted.boxes.update(checked.box.jbox_id for checked in entries.values() if checked.box is not own)
    return end, count


def _run_end(match: re.Match | None, body: str, position: int) -> int | None:
    """Where a run that starts at ``position`` ends (after its last whole line), or None."""
    if match is None:
        return None
    end = match.end()
    if end < len(body) and body[end - 1] != "\n":
        end = body.rfind("\n", position, end) + 1  # its last line matched only in part: not in the run
        if end <= position:
            return None
    return end


def _line_by_line(
    validator: Validator,
    scope: Scope,
    own: Box | None,
    known: dict,
    body: str,
    first: int,
    scale: int,
    now_ns: int,
    source: str,
    accepted: Accepted,
) -> None:
    """Pass 2: any lines (``first`` is the line number of the body's first line)."""
    oldest_by_policy: dict[str, int] = {}  # the age limit moves with now_ns: never cached across requests
    newest = validator.newest_ns(now_ns)
    out = accepted.lines_by_policy
    for number, raw in enumerate(body.split("\n"), start=first):
        line = strip_line(raw)
        if not line or line[0] == "#":
            continue
        parts = line.split(" ")
        try:
            if "\\" in line or '"' in line or len(parts) not in (2, 3):
                raise _Fallback
            entry = _entry_if_parsed(validator, scope, known, parts[0], source, line, scale)
            if entry is None:
                raise _Fallback
            policy = entry.policy
            oldest = oldest_by_policy.get(policy)
            if oldest is None:
                oldest = oldest_by_policy[policy] = validator.oldest_ns(policy, now_ns)
            if not (entry.plain(parts[1]) or _fields(parts[1], entry.types)):
                raise _Fallback
            if len(parts) == 3:
                if len(parts[2]) > 20 or not TIME_TEXT.fullmatch(parts[2]):
                    raise _Fallback
                time_ns = int(parts[2]) * scale
            else:
                time_ns = now_ns
            if not oldest <= time_ns <= newest:
                raise _Fallback
        except _Fallback:
            _general(validator, scope, accepted, number, line, scale, now_ns, source)
            continue
        out[policy].append(f"{entry.series} {parts[1]} {time_ns}")
        accepted.count += 1
        if entry.box is not own:
            accepted.boxes.add(entry.box.jbox_id)


def _check_key(validator: Validator, scope: Scope, key: str, source: str) -> _Key | None:
    """What ``key`` means, or None when the key is not acceptable as it is (the general path then
    reports why, line by line). Raises ForbiddenError when the key names a box the token may not write."""
    try:
        point = parse_line(f"{key} x=0")
    except ValueError:
        return None
    try:
        box = scope.box_for(point.tags.get("jbox_id"))
    except MissingBox:
        return None
    try:
        schema = validator.measurement(point.measurement, source)
        series = validator.series_key(box, point.measurement, point.tags, schema)
    except Refused:
        return None
    return _Key(schema.retention_policy, series, schema.fields, box)


_VALUE = {  # a value spelled as InfluxDB reads it and as it is stored: kept as it came
    # at most 300 integer digits: a longer plain number may exceed the float range (1.8e308)
    # possessive (no backtracking into the digits: what follows is never a digit), 30 % faster
    "float": "-?[0-9]{1,300}+(?:\\.[0-9]++)?+",
    "integer": "-?[0-9]{1,18}+i",  # 18 digits: always inside the 64-bit range
    "boolean": "(?:true|false)",
}
_MATCHERS: dict[tuple, object] = {}  # a schema's (field, type) pairs -> its plain-fields matcher
_SCANNERS: dict[tuple, object] = {}  # (field types, field names in order) -> whole-body matcher


def _plain_matcher(signature: tuple[tuple[str, str], ...]):
    """A compiled fullmatch accepting a fields section that is already valid and canonical as it is:
    known names, each with a plain value of its type. One C-level match replaces a Python loop over
    the fields of the typical line; string fields always take the general path."""
    matcher = _MATCHERS.get(signature)
    if matcher is None:
        alternatives = [
            f"(?:{'|'.join(re.escape(name) for name, k in signature if k == kind)})={value}"
            for kind, value in _VALUE.items()
            if any(k == kind for _, k in signature)
        ]
        if not alternatives:
            matcher = _never
        else:
            field = "(?:" + "|".join(alternatives) + ")"
            matcher = re.compile(f"{field}(?:,{field})*").fullmatch
        _MATCHERS[signature] = matcher
    return matcher


def _scanners(types: dict[str, str], names: tuple[str, ...]) -> tuple | None:
    """Two matches for a run of lines "key fields time", one whose lines all repeat the first line's
    key (a back-reference: a box's own series) and one for any keys (a gateway's batch). The field
    names are spelled out in order (twice as fast as a regex choosing among them), timestamps are in
    nanoseconds with 19 digits (2001 to 2286). None when ``names`` repeat or are not all fields of a
    plain type."""
    if len(set(names)) != len(names) or not all(types.get(name) in _VALUE for name in names):
        return None
    rest = " " + ",".join(f"{re.escape(name)}={_VALUE[types[name]]}" for name in names) + " [1-9][0-9]{18}"
    # a key is anything but a space ("[^ \\n]" is slower): the key of the first line has no newline
    # (the caller checks), a back-reference to it neither, and for any keys the caller counts the
    # spaces, so a key that ran over a newline is caught there. Possessive: a run ends at its first
    # other line, without backtracking line by line.
    same = re.compile(f"(?P<key>[^ \\t\\n#][^ ]*+){rest}(?:\\n(?P=key){rest})*+\\n?").match
    mixed = re.compile(f"[^ \\t\\n#][^ ]*+{rest}(?:\\n[^ \\t\\n#][^ ]*+{rest})*+\\n?").match
    return same, mixed


def _never(text: str) -> None:
    return None


def _fields(text: str, types: dict[str, str]) -> bool:
    """True when every value of the fields section is spelled as InfluxDB reads it and has the
    schema's type (the section is then kept as it came); _Fallback otherwise."""
    for part in text.split(","):
        name, _, value = part.partition("=")
        kind = types.get(name)
        if kind is None or not value:
            raise _Fallback
        if kind == "float":
            if not FLOAT_TEXT.fullmatch(value) or abs(float(value)) == float("inf"):
                raise _Fallback
        elif kind == "integer":
            # more than 21 characters is out of range anyway, and int() refuses 4,300 digits
            if len(value) > 21 or not INTEGER_TEXT.fullmatch(value) or not -(2**63) <= int(value[:-1]) < 2**63:
                raise _Fallback
        elif kind != "boolean" or value not in BOOLEAN_TEXT:
            raise _Fallback
    return True


def _fields_or_none(text: str, types: dict[str, str]) -> bool:
    try:
        return _fields(text, types)
    except _Fallback:
        return False


def _general(
    validator: Validator,
    scope: Scope,
    accepted: Accepted,
    number: int,
    line: str,
    scale: int,
    now_ns: int,
    source: str,
) -> None:
    decoded = Decoded(strict_types=True)
    try:
        decoded.points.append((number, parse_line(line, scale)))
    except ValueError as exc:
        decoded.errors.append(LineError(number, str(exc), line, "parse"))
    result = validator.check(scope, decoded, now_ns, source)
    for policy, lines in result.lines_by_policy.items():
        accepted.lines_by_policy[policy].extend(lines)
    accepted.count += result.count
    accepted.errors.extend(result.errors)
    accepted.boxes |= result.boxes
