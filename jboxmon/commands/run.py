"""``jboxmon run``: every service in one process, the single-node default."""

from __future__ import annotations

import argparse

from jboxmon.cli import load_config_or_exit
from jboxmon.services import ALL, Services

HELP = "run every service in one process"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=None, help="collector host:port (default: collector.listen)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    return Services(config, listen=args.listen, components=ALL, config_path=args.config).run_until_signal()
