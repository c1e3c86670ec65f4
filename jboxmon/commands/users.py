"""``jboxmon users add|rotate|revoke|list``: operators of the control plane and their tokens.

An operator's token is printed once (or written to a 0600 file with ``--save``); use it as
``Authorization: Bearer <token>``, as the password of Basic auth with the operator's name
(amtool's ``--http.config.file``, Grafana, Prometheus), or to sign in on the status page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from config.durations import parse_duration
from inventory.audit import AuditLog, local_actor
from inventory.operators import ROLES, OperatorError, OperatorStore
from jboxmon.cli import load_config_or_exit

HELP = "add, rotate, revoke and list control-plane operators (roles: viewer, operator, admin, producer)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add an operator with a role and print its first token (shown only once)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--save", type=Path, metavar="FILE", help="write the token to FILE (mode 0600) instead")
    rotate = actions.add_parser("rotate", help="a new token; the old one stops now (or after --overlap)")
    rotate.add_argument("name", metavar="NAME")
    rotate.add_argument("--overlap", default="0s", help="how long the old token keeps working (default 0s)")
    rotate.add_argument("--save", type=Path, metavar="FILE", help="write the token to FILE (mode 0600) instead")
    revoke = actions.add_parser("revoke", help="revoke every token of an operator at once")
    revoke.add_argument("name", metavar="NAME")
    listing = actions.add_parser("list", help="operators, roles and active token counts")
    listing.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    try:
        with OperatorStore.from_config(config.inventory) as store:
            outcome = _ACTIONS[args.action](store, args)
    except (OperatorError, ValueError, OSError) as exc:
        print(f"jboxmon users {args.action}: {exc}", file=sys.stderr)
        return 2
    if outcome is not None:  # a change: into the audit log
        audit = AuditLog.from_config(config.inventory)
        try:
            audit.record(local_actor(), "local", outcome[0], args.name, **outcome[1])
        finally:
            audit.close()
    return 0


def _add(store: OperatorStore, args) -> tuple[str, dict]:
    token = store.add(args.name, args.role)
    _show(args, token)
    return "token.issue", {"kind": "operator", "role": args.role}


def _rotate(store: OperatorStore, args) -> tuple[str, dict]:
    overlap = parse_duration(args.overlap)
    token = store.rotate(args.name, overlap)
    _show(args, token)
    return "token.rotate", {"kind": "operator", "overlap_s": overlap}


def _revoke(store: OperatorStore, args) -> tuple[str, dict]:
    count = store.revoke(args.name)
    print(f"revoked {count} active token(s) of {args.name}")
    return "token.revoke", {"kind": "operator", "revoked": count}


def _list(store: OperatorStore, args) -> None:
    operators = store.list()
    if args.json:
        print(json.dumps([op.__dict__ for op in operators], indent=2))
        return None
    print(f"{'OPERATOR':<24} {'ROLE':<9} {'TOKENS':>6}")
    for op in operators:
        print(f"{op.name:<24} {op.role:<9} {op.active_tokens:>6}")
    return None


def _show(args, token: str) -> None:
    if args.save is None:
        print(token)
        return
    save_token(args.save, token)
    print(f"token of {args.name} written to {args.save} (mode 0600)")


def save_token(path: Path, token: str) -> None:
    """Write ``token`` to ``path``, private (0600) from its first byte; replaces an older file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(tmp, path)


_ACTIONS = {"add": _add, "rotate": _rotate, "revoke": _revoke, "list": _list}
