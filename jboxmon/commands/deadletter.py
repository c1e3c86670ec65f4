"""``jboxmon deadletter list|replay|purge``: inspect the lines InfluxDB refused, re-send them after a fix."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import defaultdict

from collector.deadletter import DeadLetter, DeadLetterStore, isolate_refused
from jboxmon.cli import load_config_or_exit
from storage import InfluxClient, InfluxError, InfluxSettings

HELP = "list, replay or purge the lines InfluxDB refused (the collector's dead-letter store)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the refused lines, oldest first, with reason, box and time")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    replay = actions.add_parser("replay", help="re-send refused lines to InfluxDB; those it now takes are removed")
    replay.add_argument("--dry-run", action="store_true", help="only say what would be re-sent")
    purge = actions.add_parser("purge", help="delete refused lines for good")
    for sub in (listing, replay, purge):
        sub.add_argument("--box", default=None, metavar="JBOX_ID", help="only the lines of this box")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    store = DeadLetterStore(config.collector.spool_dir, max_bytes=config.collector.dead_letter_max_bytes)
    if args.action == "list":
        return _list(store, args.box, as_json=args.json)
    if args.action == "purge":
        removed = store.rewrite(lambda letter: not _selected(letter, args.box))
        print(f"purged {len(removed)} dead letter(s)")
        return 0
    with InfluxClient(InfluxSettings.from_config(config.influxdb)) as client:
        return _replay(store, client, args.box, dry_run=args.dry_run)


def _selected(letter: DeadLetter, box: str | None) -> bool:
    return box is None or letter.box == box


def _list(store: DeadLetterStore, box: str | None, *, as_json: bool) -> int:
    letters = [letter for letter in store.entries() if _selected(letter, box)]
    for letter in letters:
        if as_json:
            print(letter.to_json())
            continue
        when = dt.datetime.fromtimestamp(letter.time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{when}  {letter.box or '-'}  rp={letter.policy}  {letter.reason}\n    {letter.line[:300]}")
    if not as_json:
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


def _replay(store: DeadLetterStore, client: InfluxClient, box: str | None, *, dry_run: bool) -> int:
    letters = [letter for letter in store.entries() if _selected(letter, box)]
    if dry_run:
        print(f"would re-send {len(letters)} dead letter(s)")
        return 0
    by_policy: dict[str, list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        by_policy[letter.policy].append(letter)
    delivered: set[str] = set()
    still_refused = 0
    try:
        for policy, group in by_policy.items():
            lines = [letter.line.encode() for letter in group]
            refused = isolate_refused(lambda body, rp=policy: client.write(body, retention_policy=rp), lines)
            refused_lines = {line for line, _ in refused}
            for line, error in refused:
                print(f"still refused: {error}\n    {line[:300].decode(errors='replace')}", file=sys.stderr)
            still_refused += len(refused)
            delivered |= {_key(letter) for letter in group if letter.line.encode() not in refused_lines}
    except InfluxError as exc:  # an outage: what was delivered so far is removed, the rest stays
        print(f"jboxmon deadletter replay: InfluxDB unavailable: {exc}", file=sys.stderr)
        store.rewrite(lambda letter: _key(letter) not in delivered)
        return 1
    store.rewrite(lambda letter: _key(letter) not in delivered)
    print(json.dumps({"replayed": len(delivered), "still_refused": still_refused}))
    return 0 if still_refused == 0 else 1


def _key(letter: DeadLetter) -> str:
    return letter.to_json()
