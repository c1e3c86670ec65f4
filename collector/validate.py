"""Validation against the configured schema, per point, with InfluxDB's partial-write behaviour.

A point that breaks a rule is refused alone (with the reason); the others of the request go on.
Writing another box's data is not a data problem but an authorisation one: it refuses the whole
request (403).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from collector.model import Decoded, LineError, Point
from collector.scope import BoxScope, ForbiddenError, GatewayScope, MissingBox, Scope, scope_of
from config.collector import BOX_TAGS, MeasurementSchema
from inventory import Box
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
    def __init__(self, schema: dict[str, MeasurementSchema], *, max_future_s: float, max_age_s: float) -> None:
        self.schema = schema
        self.max_future_ns = int(max_future_s * 1e9)
        self.max_age_ns = int(max_age_s * 1e9) if max_age_s > 0 else None
        self._series: dict[tuple, str] = {}  # (box, measurement, tags) -> encoded series key
        # line-protocol keys already checked, per writing box or gateway (collector/fastlines.py)
        self.line_keys: dict[object, dict[str, tuple | None]] = {}

    def check(self, scope: Box | Scope, decoded: Decoded, now_ns: int) -> Accepted:
        """Validate and encode; raises ForbiddenError when any point names a box the token may
        not write (another box, or one outside a gateway's cover)."""
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
                policy, line = self._check_point(box, point, now_ns)
            except Refused as exc:
                accepted.errors.append(LineError(number, str(exc), category=exc.category))
                continue
            accepted.lines_by_policy[policy].append(line)
            accepted.count += 1
            if box is not scope_box:
                accepted.boxes.add(box.jbox_id)
        accepted.errors.sort(key=lambda error: error.line)
        return accepted

    def _check_point(self, box: Box, point: Point, now_ns: int) -> tuple[str, str]:
        schema = self.schema.get(point.measurement)
        if schema is None:
            raise Refused(
                f"measurement {point.measurement!r} is not accepted (allowed: {', '.join(self.schema)})", "schema"
            )
        time_ns = now_ns if point.time_ns is None else point.time_ns
        if time_ns > now_ns + self.max_future_ns:
            raise Refused(f"timestamp is {(time_ns - now_ns) / 1e9:.0f}s in the future", "timestamp")
        if self.max_age_ns is not None and time_ns < now_ns - self.max_age_ns:
            raise Refused(
                f"timestamp is {(now_ns - time_ns) / 86400e9:.1f} days old, beyond raw retention", "timestamp"
            )
        series = self.series_key(box, point.measurement, point.tags, schema)
        fields = ",".join(
            f"{escape_key(name)}={format_field(_typed(name, value, schema))}" for name, value in point.fields.items()
        )
        if not fields:
            raise Refused("no field", "schema")
        return schema.retention_policy, f"{series} {fields} {time_ns}"

    def series_key(self, box: Box, measurement: str, tags: dict[str, str], schema: MeasurementSchema) -> str:
        """The encoded ``measurement,tags`` of a point, box tags from the registry; cached, since
        a box writes the same few series over and over. Raises Refused for a bad tag."""
        cache_key = (box, measurement, tuple(tags.items()))
        series = self._series.get(cache_key)
        if series is None:
            series = escape_measurement(measurement) + encode_tags(self._tags(box, measurement, tags, schema))
            if len(self._series) > 100_000:  # bounded: keys repeat, but hostile input need not
                self._series.clear()
            self._series[cache_key] = series
        return series

    def _tags(self, box: Box, measurement: str, given: dict[str, str], schema: MeasurementSchema) -> dict[str, str]:
        tags = {}
        for key, value in given.items():
            if key not in BOX_TAGS and key not in schema.tags:
                allowed = ", ".join([*BOX_TAGS, *schema.tags])
                raise Refused(f"tag {key!r} is not accepted on {measurement!r} (allowed: {allowed})", "schema")
            if len(value) > MAX_TAG_LENGTH or not value.isprintable():
                raise Refused(f"tag {key}={value[:40]!r}: at most {MAX_TAG_LENGTH} printable characters", "schema")
            tags[key] = value
        # the registry is the authority on where a box is and what it does: its values win, so a
        # box cannot inflate tag cardinality or hide in another region
        for key, value in box.tags().items():
            if value:
                tags[key] = value
        return tags


def _typed(name: str, value: object, schema: MeasurementSchema) -> float | int | bool | str:
    expected = schema.fields.get(name)
    if expected is None:
        raise Refused(f"field {name!r} is not accepted (allowed: {', '.join(schema.fields)})", "schema")
    if expected == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise Refused(f"field {name!r}: NaN and infinity cannot be stored", "type")
            return number
    elif expected == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**63:
                raise Refused(f"field {name!r}: integer {value} out of the 64-bit range", "type")
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
    elif expected == "string":
        if isinstance(value, str):
            if len(value.encode()) > MAX_STRING_BYTES:
                raise Refused(f"field {name!r}: string longer than {MAX_STRING_BYTES} bytes", "type")
            return value
    elif expected == "boolean" and isinstance(value, bool):
        return value
    shown = repr(value) if not isinstance(value, str) else repr(value[:40])
    raise Refused(f"field {name!r} must be {expected}, got {shown}", "type")


__all__ = ["Accepted", "ForbiddenError", "GatewayScope", "Refused", "Validator"]
