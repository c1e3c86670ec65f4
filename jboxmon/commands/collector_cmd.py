"""``jboxmon collector``: run the ingestion gateway (and the scraper when pull mode is on)."""

from __future__ import annotations

import argparse

from jboxmon.cli import load_config_or_exit
from jboxmon.services import Services

HELP = "run the ingestion gateway"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=None, help="host:port (default: collector.listen)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    services = Services(config, listen=args.listen, components=("collector",))
    return services.run_until_signal()
