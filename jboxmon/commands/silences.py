"""``jboxmon silences add|list|expire``: silences through the alerting service's API.

    jboxmon silences add 'site="site-007"' --duration 2h --comment "inverter swap" --author alice
    jboxmon silences add 'site="site-007"' --until 2027-06-30 --every tuesday --between 02:00-04:00 \\
        --tz Europe/Paris --comment "weekly maintenance"
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys

from jboxmon.cli import load_config_or_exit

HELP = "add, list and expire silences (recurring windows too)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="alerting service URL (default: http://<alerting.listen>)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a silence; prints its id")
    add.add_argument("matchers", nargs="+", help="matchers like 'jbox_id=\"jbox-0001\"' or 'site=~\"site-00[12]\"'")
    add.add_argument("--comment", required=True)
    add.add_argument("--author", default=getpass.getuser())
    add.add_argument("--start", default=None, help="ISO 8601 (default: now)")
    span = add.add_mutually_exclusive_group()
    span.add_argument("--duration", default=None, help="e.g. 2h (default 1h, or 1 year for a recurring silence)")
    span.add_argument("--until", default=None, help="end, ISO 8601")
    add.add_argument("--every", default=None, help="recurring: weekdays, e.g. tuesday or monday:friday (comma list)")
    add.add_argument("--between", default=None, help="recurring: times of day, e.g. 02:00-04:00")
    add.add_argument("--days-of-month", default=None, help="recurring: e.g. 1 or 1:7 or -1 (comma list)")
    add.add_argument("--tz", default="UTC", help="time zone of a recurring window (default UTC)")
    listing = actions.add_parser("list", help="silences (active and pending; --all for expired too)")
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--json", action="store_true")
    expire = actions.add_parser("expire", help="end silences now")
    expire.add_argument("ids", nargs="+")


def _time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def silence_body(args: argparse.Namespace, now: dt.datetime) -> dict:
    from alerting.matchers import parse
    from config.durations import parse_duration

    matchers = [m.to_api() for m in parse(args.matchers)]
    start = _time(args.start) if args.start else now
    recurrence = {}
    if args.every:
        recurrence["weekdays"] = [w.strip() for w in args.every.split(",")]
    if args.between:
        begin, _, end = args.between.partition("-")
        recurrence["times"] = [{"start_time": begin.strip(), "end_time": end.strip()}]
    if args.days_of_month:
        recurrence["days_of_month"] = [d.strip() for d in args.days_of_month.split(",")]
    if recurrence:
        recurrence["location"] = args.tz
    if args.until:
        end_at = _time(args.until)
    else:
        default = "365d" if recurrence else "1h"
        end_at = start + dt.timedelta(seconds=parse_duration(args.duration or default))
    body = {"matchers": matchers, "startsAt": start.isoformat(), "endsAt": end_at.isoformat(),
            "createdBy": args.author, "comment": args.comment}  # fmt: skip
    if recurrence:
        body["recurrence"] = recurrence
    return body


def run(args: argparse.Namespace) -> int:
    from jboxmon.credential import control_headers, explain
    from storage.http import HttpClient, HttpError, HttpSettings

    config = load_config_or_exit(args)
    base = (args.url or f"http://{config.alerting.listen}").rstrip("/")
    client = HttpClient(base, HttpSettings(headers=control_headers()))
    try:
        if args.action == "add":
            try:
                body = silence_body(args, dt.datetime.now(dt.UTC))
            except ValueError as exc:
                print(f"jboxmon silences add: {exc}", file=sys.stderr)
                return 2
            print(client.request("POST", "/api/v2/silences", json=body).json()["silenceID"])
            return 0
        if args.action == "expire":
            for silence_id in args.ids:
                client.request("DELETE", f"/api/v2/silence/{silence_id}")
                print(f"expired {silence_id}")
            return 0
        silences = client.request("GET", "/api/v2/silences").json()
    except HttpError as exc:
        print(f"jboxmon silences {args.action}: {explain(exc)}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if not args.all:
        silences = [s for s in silences if s["status"]["state"] != "expired"]
    if args.json:
        print(json.dumps(silences, indent=2))
        return 0
    print(f"{'ID':<36}  {'STATE':<8} {'ENDS':<20} {'BY':<10} MATCHERS / COMMENT")
    for s in silences:
        matchers = ",".join(_matcher_text(m) for m in s["matchers"])
        state = s["status"]["state"] + ("*" if s.get("recurrence") else "")
        print(f"{s['id']:<36}  {state:<8} {s['endsAt'][:19]:<20} {s['createdBy'][:10]:<10} {matchers}  {s['comment']}")
    print(f"{len(silences)} silence(s)" + ("  (* recurring)" if any(s.get("recurrence") for s in silences) else ""))
    return 0


def _matcher_text(m: dict) -> str:
    op = ("=~" if m["isRegex"] else "=") if m.get("isEqual", True) else ("!~" if m["isRegex"] else "!=")
    return f'{m["name"]}{op}"{m["value"]}"'
