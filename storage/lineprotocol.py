"""Line-protocol encoding: plain string building, the hot path of every write.

influxdb-client's ``Point`` is correct but slow (about 45k points/s here); these helpers build the
same text roughly ten times faster (see ``bench/bench_lineprotocol.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})

FieldValue = float | int | bool | str


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(key: str) -> str:
    """Escape a tag key, tag value or field key."""
    return key.translate(_KEY_ESCAPES)


def format_field(value: FieldValue) -> str | None:
    """One field value in line-protocol syntax; None for values InfluxDB cannot store (NaN, inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return repr(value)
    return '"' + str(value).translate(_STRING_ESCAPES) + '"'


def encode_tags(tags: Mapping[str, str]) -> str:
    """``,k=v,k2=v2`` with keys sorted (InfluxDB's preferred order); empty values are dropped."""
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != "")


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    timestamp: int | None = None,
) -> str | None:
    """One line of line protocol, or None when no field has a storable value."""
    encoded = []
    for key, value in fields.items():
        if value is None:
            continue
        text = format_field(value)
        if text is not None:
            encoded.append(f"{escape_key(key)}={text}")
    if not encoded:
        return None
    line = f"{escape_measurement(measurement)}{encode_tags(tags)} {','.join(encoded)}"
    return line if timestamp is None else f"{line} {timestamp}"
