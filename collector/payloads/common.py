"""Helpers shared by the payload decoders: timestamps and shape checks that name the field."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

from collector.model import Decoded, PayloadError

Decoder = Callable[[object], Decoded]


@dataclass(frozen=True)
class PayloadVersion:
    """One JSON telemetry payload version: served at ``POST /<name>/telemetry``.

    ``schema`` is its OpenAPI (JSON Schema) description, published at ``/openapi.json`` under
    ``schema_name``.
    """

    name: str
    summary: str
    decode: Decoder
    schema_name: str
    schema: dict

    @property
    def path(self) -> str:
        return f"/{self.name}/telemetry"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def require_object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def require_list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise PayloadError(f"{where}: expected a JSON array, got {type(value).__name__}")
    return value


def epoch_seconds_to_ns(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected seconds since the epoch, got {value!r}")
    if not 0 <= value < 2**33:
        raise ValueError(f"{where}: {value!r} is not a plausible time in seconds")
    return int(round(value * 1_000_000)) * 1000  # microsecond resolution, exact for ms inputs


def rfc3339_to_ns(value: object, where: str) -> int:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"{where}: expected an RFC 3339 time like '2026-11-29T16:00:00Z', got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: expected an RFC 3339 time like '2026-11-29T16:00:00Z', got {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{where}: time {value!r} has no time zone (add 'Z' for UTC)")
    delta = parsed - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
