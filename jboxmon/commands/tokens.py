"""``jboxmon tokens issue|issue-gateway|rotate|revoke|list``: box and site-gateway tokens, the fleet inventory."""

from __future__ import annotations

import argparse
import json
import sys

from config.durations import parse_duration
from inventory import SERVICES, InventoryUnavailable, Registry, RegistryError
from inventory.audit import AuditLog, local_actor
from jboxmon.cli import load_config_or_exit

HELP = "issue, rotate, revoke and list box and site-gateway tokens (the fleet inventory)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="register boxes and print their first token (shown only once)")
    issue.add_argument("jbox_ids", nargs="+", metavar="JBOX_ID")
    issue.add_argument("--site", default="")
    issue.add_argument("--region", default="")
    issue.add_argument("--service", default="", choices=["", *SERVICES])
    issue.add_argument("--json", action="store_true", help="print {jbox_id: token} as JSON")
    gateway = actions.add_parser(
        "issue-gateway", help="register a site gateway (writes line protocol for several boxes), print its token"
    )
    gateway.add_argument("gateway_id", metavar="GATEWAY_ID")
    bound = gateway.add_mutually_exclusive_group(required=True)
    bound.add_argument("--site", help="the gateway writes for every box of this site")
    bound.add_argument("--boxes", type=_id_list, help="or only for these boxes (comma-separated ids)")
    gateway.add_argument("--json", action="store_true", help="print {gateway_id: token} as JSON")
    rotate = actions.add_parser("rotate", help="new token for a box or gateway; the old one works during the overlap")
    rotate.add_argument("jbox_id", metavar="ID")
    rotate.add_argument("--overlap", default=None, help="how long the old token keeps working (default: config)")
    revoke = actions.add_parser("revoke", help="revoke every token of a box or gateway at once")
    revoke.add_argument("jbox_id", metavar="ID")
    listing = actions.add_parser("list", help="the inventory: boxes and gateways, active tokens, last contact")
    listing.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    try:
        with Registry.from_config(config.inventory) as registry:
            code = _ACTIONS[args.action](registry, args, config)
    except RegistryError as exc:
        print(f"jboxmon tokens {args.action}: {exc}", file=sys.stderr)
        return 2
    except InventoryUnavailable as exc:  # PostgreSQL away: one line, and nothing was changed
        print(f"jboxmon tokens {args.action}: {exc}; nothing was changed, try again", file=sys.stderr)
        return 1
    if args.action != "list":
        _audit(config.inventory, args)
    return code


def _audit(inventory, args) -> None:
    """Credential changes are recorded with who ran the command (the OS user) from this machine."""
    action = {"issue": "token.issue", "issue-gateway": "token.issue", "rotate": "token.rotate",
              "revoke": "token.revoke"}[args.action]  # fmt: skip
    targets = getattr(args, "jbox_ids", None) or [getattr(args, "gateway_id", None) or args.jbox_id]
    audit = AuditLog.from_config(inventory)
    try:
        for target in targets:
            audit.record(local_actor(), "local", action, target, kind="gateway" if args.action == "issue-gateway"
                         else "box-or-gateway")  # fmt: skip
    finally:
        audit.close()


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


def _issue_gateway(registry: Registry, args, config) -> int:
    token = registry.issue_gateway(args.gateway_id, site=args.site or "", boxes=args.boxes or ())
    if args.json:
        print(json.dumps({args.gateway_id: token}, indent=2))
    else:
        print(f"{args.gateway_id}\t{token}")
    return 0


def _id_list(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise argparse.ArgumentTypeError(f"expected box ids separated by commas, got {text!r}")
    return ids


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
    boxes, gateways = registry.boxes(), registry.gateways()
    if args.json:
        # a list of boxes as before; gateways carry "gateway_id" instead of "jbox_id"
        rows = [box.__dict__ for box in boxes]
        rows += [{**gateway.__dict__, "boxes": sorted(gateway.boxes)} for gateway in gateways]
        print(json.dumps(rows, indent=2))
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
    if gateways:
        print(f"\n{'GATEWAY':<16} {'WRITES FOR':<36} {'TOKENS':>6}  LAST SEEN")
        for gateway in gateways:
            seen = _ago(gateway.last_seen, registry.clock()) if gateway.last_seen else "never"
            print(f"{gateway.gateway_id:<16} {gateway.describe():<36} {gateway.active_tokens:>6}  {seen}")
    return 0


def _ago(when: float, now: float) -> str:
    seconds = max(0, int(now - when))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago" if seconds >= 3600 else f"{seconds}s ago"


_ACTIONS = {"issue": _issue, "issue-gateway": _issue_gateway, "rotate": _rotate, "revoke": _revoke, "list": _list}
