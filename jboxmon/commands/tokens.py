"""``jboxmon tokens issue|rotate|revoke|list``: per-box tokens and the fleet inventory."""

from __future__ import annotations

import argparse
import json
import sys

from config.durations import parse_duration
from inventory import SERVICES, Registry, RegistryError
from jboxmon.cli import load_config_or_exit

HELP = "issue, rotate, revoke and list box tokens (the fleet inventory)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="register boxes and print their first token (shown only once)")
    issue.add_argument("jbox_ids", nargs="+", metavar="JBOX_ID")
    issue.add_argument("--site", default="")
    issue.add_argument("--region", default="")
    issue.add_argument("--service", default="", choices=["", *SERVICES])
    issue.add_argument("--json", action="store_true", help="print {jbox_id: token} as JSON")
    rotate = actions.add_parser("rotate", help="new token; the old one works during the overlap")
    rotate.add_argument("jbox_id")
    rotate.add_argument("--overlap", default=None, help="how long the old token keeps working (default: config)")
    revoke = actions.add_parser("revoke", help="revoke every token of a box at once")
    revoke.add_argument("jbox_id")
    listing = actions.add_parser("list", help="the inventory: boxes, active tokens, last contact")
    listing.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    try:
        with Registry(config.inventory.path) as registry:
            return _ACTIONS[args.action](registry, args, config)
    except RegistryError as exc:
        print(f"jboxmon tokens {args.action}: {exc}", file=sys.stderr)
        return 2


def _issue(registry: Registry, args, config) -> int:
    tokens = {
        box: registry.issue(box, site=args.site, region=args.region, service=args.service) for box in args.jbox_ids
    }
    if args.json:
        print(json.dumps(tokens, indent=2))
    else:
        for box, token in tokens.items():
            print(f"{box}\t{token}")
    return 0


def _rotate(registry: Registry, args, config) -> int:
    overlap = parse_duration(args.overlap) if args.overlap else config.collector.token_overlap
    print(registry.rotate(args.jbox_id, overlap))
    print(f"the previous token of {args.jbox_id} keeps working for {overlap:.0f}s", file=sys.stderr)
    return 0


def _revoke(registry: Registry, args, config) -> int:
    count = registry.revoke(args.jbox_id)
    print(f"revoked {count} active token(s) of {args.jbox_id}")
    return 0


def _list(registry: Registry, args, config) -> int:
    boxes = registry.boxes()
    if args.json:
        print(json.dumps([box.__dict__ for box in boxes], indent=2))
        return 0
    now = registry.clock()
    rows = [
        (
            box.jbox_id,
            box.site,
            box.region,
            box.service,
            str(box.active_tokens),
            _ago(box.last_seen, now) if box.last_seen else "never",
            _ago(box.registered_at, now) if box.registered_at else "-",
        )
        for box in boxes
    ]
    head = ("JBOX", "SITE", "REGION", "SERVICE", "TOKENS", "LAST SEEN", "REGISTERED")
    # each column as wide as its longest value: a long region or site never shifts the others
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        cells = [
            value.rjust(w) if i == 4 else value.ljust(w) for i, (value, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    return 0


def _ago(when: float, now: float) -> str:
    seconds = max(0, int(now - when))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago" if seconds >= 3600 else f"{seconds}s ago"


_ACTIONS = {"issue": _issue, "rotate": _rotate, "revoke": _revoke, "list": _list}
