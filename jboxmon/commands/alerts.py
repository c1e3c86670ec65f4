"""``jboxmon alerts list``: the alerts firing now, from the rules service's API."""

from __future__ import annotations

import argparse
import json
import sys

from jboxmon.cli import load_config_or_exit
from storage.http import HttpClient, HttpError, HttpSettings

HELP = "list the alerts firing now"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="firing alerts (from the rules service)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--url", default=None, help="rules service URL (default: http://<rules.listen>)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    url = (args.url or f"http://{config.rules.listen}").rstrip("/") + "/api/v1/alerts"
    try:
        with HttpClient(settings=HttpSettings(timeout_s=10)) as http:
            alerts = http.request("GET", url).json()["data"]["alerts"]
    except (HttpError, ValueError, KeyError) as exc:
        print(f"jboxmon alerts list: cannot read {url}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    print(f"{'ALERT':<22} {'JBOX':<12} {'SEVERITY':<9} {'SINCE':<21} SUMMARY")
    for alert in sorted(alerts, key=lambda a: (a["labels"]["alertname"], a["labels"].get("jbox_id", ""))):
        labels = alert["labels"]
        print(
            f"{labels['alertname']:<22} {labels.get('jbox_id', '(fleet)'):<12} {labels.get('severity', ''):<9} "
            f"{alert['startsAt'][:19]:<21} {alert['annotations'].get('summary', '')}"
        )
    print(f"{len(alerts)} alert(s) firing")
    return 0
