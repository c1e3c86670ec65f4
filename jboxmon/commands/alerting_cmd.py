"""``jboxmon alerting``: the alerting service alone (routing, grouping, silences, delivery).

It accepts Alertmanager's ``POST /api/v2/alerts`` on ``alerting.listen``; point ``rules.alerting_url``
(or Prometheus, vmalert, Grafana) at ``http://<alerting.listen>/api/v2/alerts``. SIGHUP reloads the
``alerting:`` section of the config file without a restart.
"""

from __future__ import annotations

import argparse

from jboxmon.cli import load_config_or_exit

HELP = "run the alerting service (Alertmanager-compatible POST /api/v2/alerts)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=None, help="host:port (default: alerting.listen)")


def run(args: argparse.Namespace) -> int:
    from jboxmon.services import Services

    config = load_config_or_exit(args)
    if args.listen:
        config = config.model_copy(update={"alerting": config.alerting.model_copy(update={"listen": args.listen})})
    return Services(config, components=("alerting",), config_path=args.config).run_until_signal()
