"""Payload v2: a header and a batch of samples with full field names and RFC 3339 times.

::

    {"header": {"jbox_id": "jbox-0002", "fw_version": "2.1.0", "sent_at": "2026-11-29T16:00:10.000Z", "seq": 17},
     "samples": [{"time": "2026-11-29T16:00:00.000Z", "p_meas_kw": 12.0, "p_setpoint_kw": 10.0,
                  "grid_freq_hz": 49.99, "soc_pct": 50.5, "temp_max_c": 30.1}],
     "heartbeat": {"time": "2026-11-29T16:00:00.000Z", "uptime_s": 3600, "disk_used_pct": 40.0}}

``heartbeat`` is present only when one is due. Sample ``n`` is reported as line ``n`` (1-based),
the heartbeat as the line after the last sample.
"""

from __future__ import annotations

from collector.model import Decoded, LineError, PayloadError, Point
from collector.payloads.common import PayloadVersion, require_list, require_object, rfc3339_to_ns

HEADER_KEYS = {"jbox_id", "fw_version", "sent_at", "seq"}
MAX_SAMPLES = 100_000


def decode(body: object) -> Decoded:
    payload = require_object(body, "body")
    unknown = sorted(set(payload) - {"header", "samples", "heartbeat"})
    if unknown:
        raise PayloadError(f"{unknown[0]}: unknown key (allowed: header, samples, heartbeat)")
    header = require_object(payload.get("header"), "header")
    extra = sorted(set(header) - HEADER_KEYS)
    if extra:
        raise PayloadError(f"header.{extra[0]}: unknown key (allowed: {', '.join(sorted(HEADER_KEYS))})")
    samples = require_list(payload.get("samples", []), "samples")
    if len(samples) > MAX_SAMPLES:
        raise PayloadError(f"samples: at most {MAX_SAMPLES} per request, got {len(samples)}")
    tags = {"jbox_id": header["jbox_id"]} if isinstance(header.get("jbox_id"), str) else {}
    decoded = Decoded()
    for number, sample in enumerate(samples, start=1):
        _add(decoded, number, "telemetry", sample, f"samples[{number - 1}]", tags, {})
    if payload.get("heartbeat") is not None:
        extra_fields = {"payload_version": 2}
        if isinstance(header.get("fw_version"), str):
            extra_fields["fw_version"] = header["fw_version"]
        _add(decoded, len(samples) + 1, "heartbeat", payload["heartbeat"], "heartbeat", tags, extra_fields)
    return decoded


def _add(decoded: Decoded, number: int, measurement: str, sample: object, where: str, tags: dict, extra: dict) -> None:
    try:
        if not isinstance(sample, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(sample).__name__}")
        fields = {key: value for key, value in sample.items() if key != "time"}
        time_ns = rfc3339_to_ns(sample["time"], f"{where}.time") if "time" in sample else None
        decoded.points.append((number, Point(measurement, dict(tags), {**fields, **extra}, time_ns)))
    except ValueError as exc:
        decoded.errors.append(LineError(number, str(exc)))


VERSION = PayloadVersion(
    name="v2",
    summary="A header and a batch of samples",
    decode=decode,
    schema_name="V2Batch",
    schema={
        "type": "object",
        "required": ["header"],
        "properties": {
            "header": {
                "type": "object",
                "properties": {
                    "jbox_id": {"type": "string"},
                    "fw_version": {"type": "string"},
                    "sent_at": {"type": "string"},
                    "seq": {"type": "integer"},
                },
            },
            "samples": {"type": "array", "items": {"type": "object"}},
            "heartbeat": {"type": "object"},
        },
    },
)
