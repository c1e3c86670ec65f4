"""``jboxmon dashboards build [--out DIR]``: Grafana dashboards and provisioning from the config."""

from __future__ import annotations

import argparse
from pathlib import Path

from dashboards import BuildOptions, build
from jboxmon.cli import load_config_or_exit

HELP = "generate Grafana dashboards and provisioning"
DEFAULT_OUT = Path("var/grafana")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("build", help="write dashboards/*.json and provisioning/*/*.yaml to a folder")
    generate.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    generate.add_argument(
        "--dashboards-path",
        default=None,
        help="the dashboards folder as Grafana's host sees it, for the provider (default: OUT/dashboards, absolute)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    for path in build(config, BuildOptions(out=args.out, dashboards_path=args.dashboards_path)):
        print(path)
    print(f"point Grafana's provisioning folder at {args.out / 'provisioning'} (or copy its files there)")
    return 0
