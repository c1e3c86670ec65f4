"""``jboxmon audit``: who changed what in the control plane, when and from where (newest first)."""

from __future__ import annotations

import argparse
import json
import time

from config.durations import parse_duration
from inventory.audit import AuditLog
from jboxmon.cli import load_config_or_exit

HELP = "the audit log: silences, alerts posted or resolved by hand, reloads, credentials issued or revoked"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="24h", help="how far back (a duration, default 24h)")
    parser.add_argument("--actor", help="only this operator")
    parser.add_argument("--action", help="only this action or family (silence, silence.create, token, reload...)")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    try:
        since = time.time() - parse_duration(args.since)
    except ValueError as exc:
        raise SystemExit(f"jboxmon audit: --since: {exc}") from exc
    audit = AuditLog.from_config(config.inventory)
    try:
        events = audit.query(since=since, actor=args.actor, action=args.action, limit=args.limit)
    finally:
        audit.close()
    for event in events:
        row = event.to_api()
        if args.json:
            print(json.dumps(row, sort_keys=True))
        else:
            details = json.dumps(row["details"], sort_keys=True)
            who = f"{row['actor']:<20} {row['address']:<15}"
            print(f"{row['at']}  {who} {row['action']:<15} {row['target']}  {details}")
    return 0
