"""Payload v1 (legacy firmware): one flat sample per request, short keys, epoch seconds.

Telemetry::

    {"jbox_id": "jbox-0001", "ts": 1764430000.0, "kind": "telemetry",
     "p_kw": 512.3, "sp_kw": 500.0, "f_hz": 50.012, "soc": 51.2, "t_max": 31.0}

Heartbeat::

    {"jbox_id": "jbox-0001", "ts": 1764430000.0, "kind": "heartbeat",
     "uptime_s": 12345, "fw": "1.4.2", "disk_pct": 41.0}
"""

from __future__ import annotations

from collector.model import Decoded, LineError, PayloadError, Point
from collector.payloads.common import PayloadVersion, epoch_seconds_to_ns, require_object

TELEMETRY_KEYS = {
    "p_kw": "p_meas_kw",
    "sp_kw": "p_setpoint_kw",
    "f_hz": "grid_freq_hz",
    "soc": "soc_pct",
    "t_max": "temp_max_c",
}
HEARTBEAT_KEYS = {"uptime_s": "uptime_s", "fw": "fw_version", "disk_pct": "disk_used_pct"}
KINDS = {"telemetry": ("telemetry", TELEMETRY_KEYS), "heartbeat": ("heartbeat", HEARTBEAT_KEYS)}
ENVELOPE = {"jbox_id", "ts", "kind"}


def decode(body: object) -> Decoded:
    sample = require_object(body, "body")
    kind = sample.get("kind", "telemetry")
    if not isinstance(kind, str) or kind not in KINDS:
        raise PayloadError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    measurement, keys = KINDS[kind]
    decoded = Decoded()
    try:
        unknown = sorted(set(sample) - ENVELOPE - set(keys))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} for a v1 {kind} sample (allowed: {', '.join(keys)})")
        tags = {"jbox_id": sample["jbox_id"]} if isinstance(sample.get("jbox_id"), str) else {}
        fields = {keys[key]: value for key, value in sample.items() if key in keys}
        if kind == "heartbeat":
            fields["payload_version"] = 1
        time_ns = epoch_seconds_to_ns(sample["ts"], "ts") if "ts" in sample else None
        decoded.points.append((1, Point(measurement, tags, fields, time_ns)))
    except ValueError as exc:
        decoded.errors.append(LineError(1, str(exc)))
    return decoded


VERSION = PayloadVersion(
    name="v1",
    summary="One flat sample (legacy firmware)",
    decode=decode,
    schema_name="V1Sample",
    schema={
        "type": "object",
        "required": ["ts"],
        "properties": {
            "jbox_id": {"type": "string"},
            "ts": {"type": "number"},
            "kind": {"type": "string", "enum": ["telemetry", "heartbeat"]},
            "p_kw": {"type": "number"},
            "sp_kw": {"type": "number"},
            "f_hz": {"type": "number"},
            "soc": {"type": "number"},
            "t_max": {"type": "number"},
            "uptime_s": {"type": "integer"},
            "fw": {"type": "string"},
            "disk_pct": {"type": "number"},
        },
    },
)
