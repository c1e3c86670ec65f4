"""``jboxmon alerts list``: the alerts firing now, from the rules service's API;
``jboxmon alerts history``: alert state changes and notification attempts, from the alerting service."""

from __future__ import annotations

import argparse
import json
import sys

from jboxmon.cli import load_config_or_exit
from jboxmon.credential import control_headers, explain
from storage.http import HttpClient, HttpError, HttpSettings

HELP = "list the alerts firing now, or the alert and notification history"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="firing alerts (from the rules service)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--url", default=None, help="rules service URL (default: http://<rules.listen>)")
    history = actions.add_parser("history", help="alert state changes and notification attempts")
    history.add_argument("--box", default=None, help="only this jbox_id")
    history.add_argument("--alert", default=None, help="only this alert name")
    history.add_argument("--kind", choices=["alert", "notification"], default=None)
    history.add_argument("--since", default="24h", help="24h (back from now) or a time like 2026-06-01T00:00:00Z")
    history.add_argument("--limit", type=int, default=1000)
    history.add_argument("--json", action="store_true")
    history.add_argument("--url", default=None, help="alerting service URL (default: http://<alerting.listen>)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    if args.action == "history":
        return _history(args, config)
    url = (args.url or f"http://{config.rules.listen}").rstrip("/") + "/api/v1/alerts"
    alerts = _get_json("list", url, lambda body: body["data"]["alerts"])
    if alerts is None:
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


def _history(args: argparse.Namespace, config) -> int:
    url = (args.url or f"http://{config.alerting.listen}").rstrip("/") + "/api/v1/history"
    params = {"since": args.since, "limit": args.limit, "box": args.box, "alertname": args.alert, "kind": args.kind}
    events = _get_json("history", url, lambda body: body["events"], {k: v for k, v in params.items() if v})
    if events is None:
        return 1
    if args.json:
        print(json.dumps(events, indent=2))
        return 0
    print(f"{'AT':<24} {'KIND':<12} {'STATE':<10} {'ALERT':<20} {'JBOX':<12} DETAIL")
    for e in events:
        detail = e["receiver"] or ""
        if e["detail"].get("error"):
            detail += f" error: {e['detail']['error'][:60]}"
        print(
            f"{e['at']:<24} {e['kind']:<12} {e['state']:<10} {e['alertname'][:20]:<20} {e['jbox_id'][:12]:<12} {detail}"
        )
    print(f"{len(events)} event(s) since {args.since}")
    return 0


def _get_json(verb: str, url: str, pick, params: dict | None = None) -> list | None:
    """GET ``url`` and pick the list out of its JSON; None (after saying why) when that fails."""
    try:
        with HttpClient(settings=HttpSettings(timeout_s=10, headers=control_headers())) as http:
            return pick(http.request("GET", url, params=params).json())
    except (HttpError, ValueError, KeyError) as exc:
        print(f"jboxmon alerts {verb}: cannot read {url}: {explain(exc)}", file=sys.stderr)
        return None
