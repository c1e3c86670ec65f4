"""Parse a line-protocol body line by line, so one bad line never spoils its neighbours."""

from __future__ import annotations

from collector.model import Decoded, LineError
from storage.lineparser import PRECISION_NS, parse_line, strip_line


def parse_lines(body: str, precision: str = "ns") -> Decoded:
    """Decode a line-protocol body; blank lines and ``#`` comments are skipped like InfluxDB does."""
    scale = PRECISION_NS.get(precision)
    if scale is None:
        raise ValueError(f"precision must be one of {sorted(PRECISION_NS)}, got {precision!r}")
    decoded = Decoded(strict_types=True)
    for number, raw in enumerate(body.split("\n"), start=1):
        line = strip_line(raw)
        if not line or line.startswith("#"):
            continue
        try:
            decoded.points.append((number, parse_line(line, scale)))
        except ValueError as exc:
            decoded.errors.append(LineError(number, str(exc), line, "parse"))
    return decoded
