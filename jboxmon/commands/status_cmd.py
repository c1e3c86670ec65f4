"""``jboxmon status``: the fleet status page alone (``GET /`` and ``GET /api/v1/status`` on ``status.listen``).

It watches the services at their configured addresses (or ``status.urls``) over HTTP, so it can run on
another host than they do; ``jboxmon run`` starts it beside them.
"""

from __future__ import annotations

import argparse

from jboxmon.cli import load_config_or_exit

HELP = "serve the fleet status page (components, silent boxes, alerts firing)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=None, help="host:port (default: status.listen)")


def run(args: argparse.Namespace) -> int:
    from jboxmon.services import Services

    config = load_config_or_exit(args)
    if args.listen:
        config = config.model_copy(update={"status": config.status.model_copy(update={"listen": args.listen})})
    return Services(config, components=("status",), config_path=args.config).run_until_signal()
