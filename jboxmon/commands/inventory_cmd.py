"""``jboxmon inventory migrate --to postgresql://...``: move the fleet inventory to a shared PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inventory import InventoryUnavailable, RegistryError
from jboxmon.cli import load_config_or_exit

HELP = "move the fleet inventory (boxes, tokens, gateways) from its SQLite file to a shared PostgreSQL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    migrate = actions.add_parser("migrate", help="copy the SQLite inventory into an empty PostgreSQL one")
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host:port/database")
    migrate.add_argument(
        "--from", dest="source", type=Path, default=None, help="the SQLite file (default: inventory.path)"
    )


def run(args: argparse.Namespace) -> int:
    from inventory.migrate import migrate_to_postgres

    config = load_config_or_exit(args)
    if not args.to.startswith(("postgresql://", "postgres://")):
        print(f"jboxmon inventory migrate: --to: expected a postgresql:// URL, got {args.to!r}", file=sys.stderr)
        return 2
    source = args.source or config.inventory.path
    # the password: inventory.password when set, else libpq's own (PGPASSWORD, ~/.pgpass, the URL)
    password = config.inventory.password.resolve() if config.inventory.password is not None else None
    try:
        report = migrate_to_postgres(source, args.to, password=password)
    except (RegistryError, InventoryUnavailable) as exc:
        print(f"jboxmon inventory migrate: {exc}", file=sys.stderr)
        return 2
    copied = ", ".join(f"{rows} {table}" for table, rows in report.rows.items())
    print(f"copied {report.source} -> {report.target}: {copied}")
    print(f"now set inventory.url: {report.target} (and inventory.password) on every node")
    return 0
