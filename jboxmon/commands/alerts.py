"""``jboxmon alerts list``: the alerts the alerting service holds (from any producer), with their state,
what silences or inhibits them, their receivers and age; ``jboxmon alerts history``: alert state
changes, notifications (with their group, alert names and boxes) and silences, from the alerting service."""

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
    listing = actions.add_parser("list", help="alerts held by the alerting service, with their state")
    listing.add_argument("--box", default=None, help="only this jbox_id")
    listing.add_argument("--alert", default=None, help="only this alert name")
    listing.add_argument(
        "--state",
        choices=["firing", "silenced", "inhibited", "resolved"],
        action="append",
        help="only alerts in this state (repeatable; default: all but resolved)",
    )
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--url", default=None, help="alerting service URL (default: http://<alerting.listen>)")
    history = actions.add_parser("history", help="alert state changes and notification attempts")
    history.add_argument("--box", default=None, help="only this jbox_id")
    history.add_argument("--alert", default=None, help="only this alert name")
    history.add_argument("--kind", choices=["alert", "notification", "silence"], default=None)
    history.add_argument("--since", default="24h", help="24h (back from now) or a time like 2026-06-01T00:00:00Z")
    history.add_argument("--limit", type=int, default=1000)
    history.add_argument("--json", action="store_true")
    history.add_argument("--url", default=None, help="alerting service URL (default: http://<alerting.listen>)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    if args.action == "history":
        return _history(args, config)
    return _list(args, config)


def _list(args: argparse.Namespace, config) -> int:
    url = (args.url or f"http://{config.alerting.listen}").rstrip("/") + "/api/jboxmon/v1/alerts"
    filters = [f'{name}="{value}"' for name, value in (("jbox_id", args.box), ("alertname", args.alert)) if value]
    alerts = _get_json("list", url, lambda body: body["alerts"], {"filter": filters} if filters else None)
    if alerts is None:
        return 1
    states = set(args.state or ["firing", "silenced", "inhibited"])
    alerts = [a for a in alerts if a["state"] in states]
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    print(f"{'ALERT':<22} {'JBOX':<12} {'SEVERITY':<9} {'STATE':<10} {'AGE':>7}  {'RECEIVERS':<16} WHY / SUMMARY")
    for alert in alerts:
        labels = alert["labels"]
        receivers = ",".join(sorted({r["name"] for r in alert["receivers"]}))
        print(
            f"{labels.get('alertname', ''):<22} {labels.get('jbox_id', '(fleet)'):<12} {labels.get('severity', ''):<9} "
            f"{alert['state']:<10} {_age(alert['ageSeconds']):>7}  {receivers:<16} {_why(alert)}"
        )
    counts = {state: sum(1 for a in alerts if a["state"] == state) for state in sorted(states)}
    print(f"{len(alerts)} alert(s): " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def _why(alert: dict) -> str:
    """What keeps the alert from people (a silence, an inhibiting alert), else its summary."""
    if alert["silencedBy"]:
        s = alert["silencedBy"][0]
        return f"silenced by {s['id'][:8]} ({s.get('createdBy', '?')}: {s.get('comment', '')[:40]})"
    if alert["inhibitedBy"]:
        src = alert["inhibitedBy"][0]
        return f"inhibited by {src.get('alertname', src['fingerprint'])} {src.get('jbox_id', '')}".rstrip()
    return alert["annotations"].get("summary", "")


def _age(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _history(args: argparse.Namespace, config) -> int:
    url = (args.url or f"http://{config.alerting.listen}").rstrip("/") + "/api/jboxmon/v1/history"
    params = {"since": args.since, "limit": args.limit, "box": args.box, "alertname": args.alert, "kind": args.kind}
    events = _get_json("history", url, lambda body: body["events"], {k: v for k, v in params.items() if v})
    if events is None:
        return 1
    if args.json:
        print(json.dumps(events, indent=2))
        return 0
    print(f"{'AT':<24} {'KIND':<12} {'STATE':<10} {'ALERT':<20} {'JBOX':<15} DETAIL")
    for e in events:
        names, boxes = _several(e.get("alertnames", [])), _several(e.get("boxes", []))
        detail = " ".join(part for part in (e["receiver"], _group(e)) if part)
        if e["kind"] == "silence":
            d = e["detail"]
            detail = f"{d.get('silence', '')[:8]} {' '.join(d.get('matchers', []))} by {d.get('createdBy', '')}"
        if e["detail"].get("error"):
            detail += f" error: {e['detail']['error'][:60]}"
        print(f"{e['at']:<24} {e['kind']:<12} {e['state']:<10} {_cut(names, 20):<20} {_cut(boxes, 15):<15} {detail}")
    print(f"{len(events)} event(s) since {args.since}")
    return 0


def _group(event: dict) -> str:
    return f"group {event['groupKey']}" if event.get("groupKey") else ""


def _several(values: list[str]) -> str:
    """``jbox-0007`` or ``jbox-0007 +2`` (a notification about three boxes; --json lists them all)."""
    return "" if not values else values[0] if len(values) == 1 else f"{values[0]} +{len(values) - 1}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _get_json(verb: str, url: str, pick, params: dict | None = None) -> list | None:
    """GET ``url`` and pick the list out of its JSON; None (after saying why) when that fails."""
    try:
        with HttpClient(settings=HttpSettings(timeout_s=10, headers=control_headers())) as http:
            return pick(http.request("GET", url, params=params).json())
    except (HttpError, ValueError, KeyError) as exc:
        print(f"jboxmon alerts {verb}: cannot read {url}: {explain(exc)}", file=sys.stderr)
        return None
