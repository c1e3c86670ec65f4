"""What each box runs: its payload and firmware versions, from its last heartbeat in InfluxDB.

The collector writes ``payload_version`` (the JSON payload version a heartbeat came in, or what a
line-protocol box wrote) and ``fw_version`` into every ``heartbeat`` point. One InfluxQL statement
takes the last heartbeat of every box within a look-back; the fleet inventory adds the registered
boxes that sent none (shown as unknown, never left out), so ops see every box that still needs an
update before a payload version's sunset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from inventory.model import Box
from storage import InfluxClient
from storage.influxql import quote_ident

UNKNOWN = "unknown"


@dataclass(frozen=True)
class BoxVersions:
    jbox_id: str
    payload: str  # "v1", "v2"... or "unknown" (no heartbeat within the look-back)
    firmware: str  # or "unknown"
    heartbeat_at: float | None  # unix seconds of the heartbeat read; None when there was none


def last_heartbeats(influx: InfluxClient, since_s: float, measurement: str = "heartbeat") -> dict[str, BoxVersions]:
    """The versions in each box's last heartbeat of the last ``since_s`` seconds, by box."""
    statement = (
        f'SELECT "payload_version", "fw_version" FROM {quote_ident(measurement)} '
        f'WHERE time > now() - {int(since_s)}s GROUP BY "jbox_id" ORDER BY time DESC LIMIT 1'
    )
    frame = influx.query(statement)
    found: dict[str, BoxVersions] = {}
    for row in frame.to_dict("records") if not frame.empty else []:
        box = row.get("jbox_id")
        if not box:
            continue
        found[box] = BoxVersions(
            box, _payload(row.get("payload_version")), _text(row.get("fw_version")), row["time"].timestamp()
        )
    return found


def fleet_versions(influx: InfluxClient, boxes: Iterable[Box], since_s: float) -> list[BoxVersions]:
    """Every registered box (and any other box that sent a heartbeat), sorted by id."""
    seen = last_heartbeats(influx, since_s)
    for box in boxes:
        seen.setdefault(box.jbox_id, BoxVersions(box.jbox_id, UNKNOWN, UNKNOWN, None))
    return [seen[box] for box in sorted(seen)]


def by_version(rows: Iterable[BoxVersions]) -> dict[tuple[str, str], list[str]]:
    """(payload, firmware) -> box ids, in a stable order (payload, then firmware, unknown last)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        groups[(row.payload, row.firmware)].append(row.jbox_id)
    return dict(sorted(groups.items(), key=lambda item: tuple((part == UNKNOWN, part) for part in item[0])))


def _payload(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    return f"v{int(value)}"


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return UNKNOWN
    return str(value)
