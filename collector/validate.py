"""Validation against the configured schema, per point, with InfluxDB's partial-write behaviour.

A point that breaks a rule is refused alone (with the reason); the others of the request go on.
Writing another box's data is not a data problem but an authorisation one: it refuses the whole
request (403).

The promise behind a 2xx is that InfluxDB will store the point, so every limit InfluxDB applies
is applied here first: types as the schema declares them (line protocol's own types are not
converted, as InfluxDB would call that a conflict), timestamps within the measurement's own
retention policy (less ``age_margin``: a point accepted at the edge must still be inside when the
writer delivers it) and within InfluxDB's time range, tag values it can represent.

Box tags (``jbox_id``, ``site``, ``region``, ``service``) come from the registry only; what a box
says for them is ignored, and a value the registry lacks is left out. Every other tag must be
declared in the schema with its values or a pattern, and each box may write at most
``max_series_per_box`` distinct series (counted per collector process since its start), so no box
can grow the fleet's series without bound.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.model import Decoded, LineError, Point
from collector.scope import BoxScope, ForbiddenError, GatewayScope, MissingBox, Scope, scope_of
from config.collector import BOX_TAGS, MeasurementSchema
from config.durations import format_duration
from inventory import Box
from storage.lineparser import TIME_RANGE_NS
from storage.lineprotocol import encode_tags, escape_key, escape_measurement, format_field

MAX_TAG_LENGTH = 128
MAX_STRING_BYTES = 64 * 1024  # InfluxDB's own limit for a string field


class Refused(ValueError):
    """One point breaks a rule; ``category`` is a bounded label for metrics."""

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.category = category


@dataclass
class Accepted:
    """Valid points encoded as line protocol, grouped by retention policy."""

    lines_by_policy: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    count: int = 0
    errors: list[LineError] = field(default_factory=list)
    boxes: set[str] = field(default_factory=set)  # boxes written for a gateway (last-seen times)


class Validator:
    """Checks and encodes points; ``retention_s`` maps a retention policy to its duration in seconds
    (0 = forever); ``max_age_s`` applies to a policy it does not name (0 = no limit)."""

    def __init__(
        self,
        schema: dict[str, MeasurementSchema],
        *,
        max_future_s: float,
        retention_s: Mapping[str, float] | None = None,
        max_age_s: float = 0,
        age_margin_s: float = 0,
        max_series_per_box: int = 0,
    ) -> None:
        self.schema = schema
        self.max_future_ns = int(max_future_s * 1e9)
        self.max_series_per_box = max_series_per_box
        retention = dict(retention_s or {})
        self._max_age_ns = {
            policy: self._age_ns(retention.get(policy, max_age_s), age_margin_s)
            for policy in {s.retention_policy for s in schema.values()}
        }
        self._retention_s = {policy: retention.get(policy, max_age_s) for policy in self._max_age_ns}
        self._series: dict[tuple, tuple[Box, str]] = {}  # (jbox_id, measurement, tags) -> (box, series key)
        self._series_by_box: dict[str, set[str]] = defaultdict(set)
        # line-protocol keys already checked, per writing box or gateway (collector/fastlines.py)
        self.line_keys: dict[object, dict[str, tuple | None]] = {}

    @staticmethod
    def _age_ns(duration_s: float, margin_s: float) -> int | None:
        if duration_s <= 0:
            return None
        # a margin larger than half the policy would leave nothing: keep at least half of it
        return int(max(duration_s - margin_s, duration_s / 2) * 1e9)

    def oldest_ns(self, policy: str, now_ns: int) -> int:
        """The oldest timestamp accepted into ``policy`` at ``now_ns``."""
        age = self._max_age_ns.get(policy)
        return TIME_RANGE_NS[0] if age is None else max(now_ns - age, TIME_RANGE_NS[0])

    def newest_ns(self, now_ns: int) -> int:
        return min(now_ns + self.max_future_ns, TIME_RANGE_NS[1])

    def check(self, scope: Box | Scope, decoded: Decoded, now_ns: int, source: str = "push") -> Accepted:
        """Validate and encode; raises ForbiddenError when any point names a box the token may
        not write (another box, or one outside a gateway's cover).

        ``source`` is who sends: ``push`` (a box or gateway) or ``scrape`` (the collector's scraper),
        which alone may write the measurements the schema marks ``source: scrape``.
        """
        scope = scope_of(scope)
        boxes: list[Box | MissingBox] = []
        for _, point in decoded.points:  # authorisation first: a 403 writes nothing at all
            try:
                boxes.append(scope.box_for(point.tags.get("jbox_id")))
            except MissingBox as exc:
                boxes.append(exc)
        accepted = Accepted(errors=list(decoded.errors))
        scope_box = scope.box if isinstance(scope, BoxScope) else None
        for (number, point), box in zip(decoded.points, boxes, strict=True):
            try:
                if isinstance(box, MissingBox):
                    raise Refused(str(box), "schema")
                policy, line = self._check_point(box, point, now_ns, source, decoded.strict_types)
            except Refused as exc:
                accepted.errors.append(LineError(number, str(exc), category=exc.category))
                continue
            accepted.lines_by_policy[policy].append(line)
            accepted.count += 1
            if box is not scope_box:
                accepted.boxes.add(box.jbox_id)
        accepted.errors.sort(key=lambda error: error.line)
        return accepted

    def measurement(self, name: str, source: str = "push") -> MeasurementSchema:
        """The schema of measurement ``name`` for a writer of ``source``; Refused when it may not write it."""
        schema = self.schema.get(name)
        if schema is None:
            raise Refused(f"measurement {name!r} is not accepted (allowed: {', '.join(self.schema)})", "schema")
        if schema.source != source and schema.source != "push":
            raise Refused(
                f"measurement {name!r} is written by the collector itself (source: {schema.source})", "schema"
            )
        return schema

    def _check_point(self, box: Box, point: Point, now_ns: int, source: str, strict: bool) -> tuple[str, str]:
        schema = self.measurement(point.measurement, source)
        time_ns = now_ns if point.time_ns is None else point.time_ns
        self.check_time(schema.retention_policy, time_ns, now_ns)
        fields = ",".join(
            f"{escape_key(name)}={format_field(_typed(name, value, schema, strict))}"
            for name, value in point.fields.items()
        )
        if not fields:
            raise Refused("no field", "schema")
        series = self.series_key(box, point.measurement, point.tags, schema)  # last: it spends the budget
        return schema.retention_policy, f"{series} {fields} {time_ns}"

    def check_time(self, policy: str, time_ns: int, now_ns: int) -> None:
        if time_ns > self.newest_ns(now_ns):
            raise Refused(f"timestamp is {(time_ns - now_ns) / 1e9:.0f}s in the future", "timestamp")
        if time_ns < self.oldest_ns(policy, now_ns):
            kept = self._retention_s.get(policy, 0)
            limit = "InfluxDB's time range"
            if kept:
                margin = kept - self._max_age_ns[policy] / 1e9
                limit = f"the {format_duration(kept)} retention policy {policy!r}"
                limit += f" less {format_duration(margin)} (collector.age_margin)" if margin else ""
            raise Refused(f"timestamp is {(now_ns - time_ns) / 3600e9:.1f} hours old, beyond {limit}", "timestamp")

    def series_key(self, box: Box, measurement: str, tags: dict[str, str], schema: MeasurementSchema) -> str:
        """The encoded ``measurement,tags`` of a point, box tags from the registry; cached, since
        a box writes the same few series over and over. Raises Refused for a bad tag, or when the
        box would exceed its series budget."""
        # keyed by the box's id (a Box's own hash is a Python call per lookup); the entry's box must be
        # this one (or equal): a registry reload brings new objects, and a box whose tags changed is read afresh
        cache_key = (box.jbox_id, measurement, tuple(tags.items()))
        kept = self._series.get(cache_key)
        if kept is not None and (kept[0] is box or kept[0] == box):
            return kept[1]
        series = escape_measurement(measurement) + encode_tags(self._tags(box, measurement, tags, schema))
        self._spend_budget(box.jbox_id, series)
        if len(self._series) > 100_000:  # bounded: keys repeat, but hostile input need not
            self._series.clear()
        self._series[cache_key] = (box, series)
        return series

    def _spend_budget(self, jbox_id: str, series: str) -> None:
        if not self.max_series_per_box:
            return
        known = self._series_by_box[jbox_id]
        if series in known:
            return
        if len(known) >= self.max_series_per_box:
            raise Refused(
                f"series budget exhausted: {jbox_id} already writes {len(known)} series "
                f"(collector.max_series_per_box), refusing the new series {series[:80]!r}",
                "series_budget",
            )
        known.add(series)

    def _tags(self, box: Box, measurement: str, given: dict[str, str], schema: MeasurementSchema) -> dict[str, str]:
        tags = {}
        for key, value in given.items():
            if key in BOX_TAGS:
                continue  # the registry's, below; jbox_id was checked against the token already
            rule = schema.tags.get(key)
            if rule is None:
                allowed = ", ".join([*BOX_TAGS, *schema.tags])
                raise Refused(f"tag {key!r} is not accepted on {measurement!r} (allowed: {allowed})", "schema")
            # a backslash cannot end a tag value in line protocol and is taken literally elsewhere:
            # refused outright, so what is stored is exactly what was sent
            if len(value) > MAX_TAG_LENGTH or not value.isprintable() or "\\" in value:
                raise Refused(
                    f"tag {key}={value[:40]!r}: at most {MAX_TAG_LENGTH} printable characters, no backslash", "schema"
                )
            if not rule.allows(value):
                shown = f"one of {', '.join(rule.values)}" if rule.values is not None else f"matching {rule.pattern!r}"
                raise Refused(f"tag {key}={value[:40]!r} on {measurement!r}: expected {shown}", "schema")
            tags[key] = value
        # the registry is the authority on where a box is and what it does: only its values are
        # stored, so a box cannot inflate tag cardinality or hide in another region
        for key, value in box.tags().items():
            if value:
                tags[key] = value
        return tags


def _typed(name: str, value: object, schema: MeasurementSchema, strict: bool = False) -> float | int | bool | str:
    expected = schema.fields.get(name)
    if expected is None:
        raise Refused(f"field {name!r} is not accepted (allowed: {', '.join(schema.fields)})", "schema")
    if expected == "float":
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and not strict):
            try:
                number = float(value)
            except OverflowError:  # a JSON integer beyond the float range
                raise Refused(f"field {name!r}: {str(value)[:20]}... out of the 64-bit float range", "type") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise Refused(f"field {name!r}: NaN and infinity cannot be stored", "type")
            return number
    elif expected == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**63:
                raise Refused(f"field {name!r}: integer {value} out of the 64-bit range", "type")
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 and not strict:
            return int(value)
    elif expected == "string":
        if isinstance(value, str):
            try:
                size = len(value.encode())
            except UnicodeEncodeError:  # JSON may carry a lone surrogate ("\ud800"): not UTF-8
                raise Refused(f"field {name!r}: not valid Unicode (a lone surrogate)", "type") from None
            if size > MAX_STRING_BYTES:
                raise Refused(f"field {name!r}: string longer than {MAX_STRING_BYTES} bytes", "type")
            return value
    elif expected == "boolean" and isinstance(value, bool):
        return value
    shown = repr(value) if not isinstance(value, str) else repr(value[:40])
    if strict and isinstance(value, int | float) and not isinstance(value, bool):
        shown = f"{value}i" if isinstance(value, int) else repr(value)
    raise Refused(f"field {name!r} must be {expected}, got {shown}", "type")


__all__ = ["Accepted", "ForbiddenError", "GatewayScope", "Refused", "Validator"]
