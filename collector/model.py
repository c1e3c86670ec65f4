"""The internal model every payload version and the line-protocol endpoints are decoded into."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.lineparser import Point  # the parser's model is the collector's


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line (or sample) of a request was refused; ``line`` is 1-based."""

    line: int
    reason: str
    text: str = ""
    category: str = "invalid"  # bounded label for metrics: parse, schema, timestamp, type, invalid

    def describe(self) -> str:
        excerpt = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        return f"line {self.line}: {self.reason}" + (f": {excerpt!r}" if excerpt else "")


@dataclass
class Decoded:
    """What a decoder produced: points in request order, and the lines it could not read."""

    points: list[tuple[int, Point]] = field(default_factory=list)  # (line number, point)
    errors: list[LineError] = field(default_factory=list)
    # line protocol says its types (1.0 float, 1i integer) and InfluxDB refuses a mismatch, so we do;
    # JSON has only numbers, so a JSON 50 is the float 50.0 where the schema says float
    strict_types: bool = False


class PayloadError(ValueError):
    """The request body as a whole cannot be read (not JSON, wrong shape): a 400 naming the field."""
