"""``jboxmon run``: every service in one process, the single-node default."""

from __future__ import annotations

import argparse

from jboxmon.cli import load_config_or_exit
from jboxmon.services import ALL, Services

HELP = "run every service in one process"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=None, help="collector host:port (default: collector.listen)")
    parser.add_argument(
        "--only",
        type=_components,
        default=ALL,
        metavar="LIST",
        help=f"run only these services, comma-separated (of {','.join(ALL)}): one role of a multi-node deployment",
    )


def _components(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in ALL]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected services among {', '.join(ALL)}, got {value!r}")
    return names


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    return Services(config, listen=args.listen, components=args.only, config_path=args.config).run_until_signal()
