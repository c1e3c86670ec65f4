"""Log entries (``POST /v1/logs``), any firmware::

{"jbox_id": "jbox-0001",
 "entries": [{"time": "2026-11-29T16:00:00.123Z", "level": "error", "code": "E042", "message": "..."}]}
"""

from __future__ import annotations

from collector.model import Decoded, LineError, PayloadError, Point
from collector.payloads.common import require_list, require_object, rfc3339_to_ns

LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_ENTRIES = 100_000


def decode(body: object) -> Decoded:
    payload = require_object(body, "body")
    unknown = sorted(set(payload) - {"jbox_id", "entries"})
    if unknown:
        raise PayloadError(f"{unknown[0]}: unknown key (allowed: jbox_id, entries)")
    entries = require_list(payload.get("entries"), "entries")
    if len(entries) > MAX_ENTRIES:
        raise PayloadError(f"entries: at most {MAX_ENTRIES} per request, got {len(entries)}")
    tags = {"jbox_id": payload["jbox_id"]} if isinstance(payload.get("jbox_id"), str) else {}
    decoded = Decoded()
    for number, entry in enumerate(entries, start=1):
        where = f"entries[{number - 1}]"
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(entry).__name__}")
            level = entry.get("level")
            if level not in LEVELS:
                raise ValueError(f"{where}.level: expected one of {', '.join(LEVELS)}, got {level!r}")
            extra = sorted(set(entry) - {"time", "level", "code", "message"})
            if extra:
                raise ValueError(f"{where}.{extra[0]}: unknown key (allowed: time, level, code, message)")
            fields = {key: entry[key] for key in ("code", "message") if key in entry}
            time_ns = rfc3339_to_ns(entry["time"], f"{where}.time") if "time" in entry else None
            decoded.points.append((number, Point("log", {**tags, "level": level}, fields, time_ns)))
        except ValueError as exc:
            decoded.errors.append(LineError(number, str(exc)))
    return decoded


SCHEMA = {
    "type": "object",
    "required": ["entries"],
    "properties": {
        "jbox_id": {"type": "string"},
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "time": {"type": "string"},
                    "level": {"type": "string", "enum": list(LEVELS)},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
