"""``jboxmon fleet versions [--since 2h] [--boxes] [--json]``: boxes by payload and firmware version.

Each box's versions come from its last heartbeat (inventory/versions.py); registered boxes without
one are listed as unknown. The lifecycle column is the config's ``collector.payload_versions`` on
today's date: what the collector answers those boxes (Deprecation and Sunset headers, then 410),
and what the ``PayloadDeprecated`` rule reports per box.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

from config.collector import PayloadVersionPolicy
from config.durations import format_duration, parse_duration
from jboxmon.cli import load_config_or_exit

HELP = "what the fleet runs: boxes by payload and firmware version (from their last heartbeat)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    versions = actions.add_parser("versions", help="boxes by payload and firmware version, with the payload lifecycle")
    versions.add_argument(
        "--since", type=_duration, default=None, help="look-back for the last heartbeat (default: 2 heartbeat periods)"
    )
    versions.add_argument("--boxes", action="store_true", help="list the box ids of each version")
    versions.add_argument("--json", action="store_true", help="one object per box and per version, as JSON")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    from inventory import Registry, RegistryError
    from inventory.versions import by_version, fleet_versions
    from storage import InfluxClient, InfluxError, InfluxSettings

    since = args.since or 2 * config.fleet.heartbeat_interval
    try:
        with Registry(config.inventory.path) as registry:
            boxes = registry.boxes()
        with InfluxClient(InfluxSettings.from_config(config.influxdb)) as influx:
            rows = fleet_versions(influx, boxes, since)
    except (RegistryError, InfluxError) as exc:
        print(f"jboxmon fleet versions: {exc}", file=sys.stderr)
        return 1
    today = dt.datetime.fromtimestamp(time.time(), dt.UTC).date()
    policies = config.collector.payload_versions
    groups = [
        {
            "payload": payload,
            "firmware": firmware,
            "lifecycle": lifecycle(payload, policies, today, since),
            "boxes": ids,
        }
        for (payload, firmware), ids in by_version(rows).items()
    ]
    if args.json:
        per_box = [
            {"jbox_id": r.jbox_id, "payload": r.payload, "firmware": r.firmware, "heartbeat_at": r.heartbeat_at}
            for r in rows
        ]
        print(json.dumps({"since_s": since, "versions": groups, "boxes": per_box}, indent=2))
        return 0
    print_table(groups, args.boxes)
    return 0


def lifecycle(payload: str, policies: dict[str, PayloadVersionPolicy], today: dt.date, since_s: float) -> str:
    """What the collector does with ``payload`` today, in words."""
    if payload == "unknown":
        return f"no heartbeat within {format_duration(since_s)}"
    policy = policies.get(payload)
    if policy is None:
        return "not served by this collector"
    if policy.sunset is not None and policy.sunset <= today:
        return f"retired on {policy.sunset} (refused: 410)"
    sunset = f", sunset {policy.sunset}" if policy.sunset else ""
    if policy.deprecated_since is not None and policy.deprecated_since <= today:
        return f"deprecated since {policy.deprecated_since}{sunset}"
    return f"current{sunset.replace(',', ';')}"


def print_table(groups: list[dict], with_boxes: bool) -> None:
    head = ("PAYLOAD", "FIRMWARE", "BOXES", "LIFECYCLE") + (("JBOXES",) if with_boxes else ())
    rows = [
        (g["payload"], g["firmware"], str(len(g["boxes"])), g["lifecycle"])
        + ((",".join(g["boxes"]),) if with_boxes else ())
        for g in groups
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        cells = [
            value.rjust(w) if i == 2 else value.ljust(w) for i, (value, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    if not groups:
        print("(no registered box and no heartbeat)", file=sys.stderr)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a duration like '2h', got {text!r}") from exc
