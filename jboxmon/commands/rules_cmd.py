"""``jboxmon rules check|test|backtest``: validate, unit-test and replay rule files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jboxmon.cli import load_config_or_exit

HELP = "check, unit-test and backtest rule files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("run", help="run the rules service (scheduler, hot reload, HTTP API)")
    check = actions.add_parser("check", help="validate rule files; exit 0 when valid, 2 otherwise")
    check.add_argument("files", nargs="+", type=Path)
    test = actions.add_parser("test", help="run rule unit-test files (shaped like promtool's)")
    test.add_argument("files", nargs="+", type=Path)
    test.add_argument(
        "--influx-url",
        default=None,
        help="InfluxDB to run the tests on (default: a private influxd started for the run)",
    )
    backtest = actions.add_parser("backtest", help="replay the state machine over history in InfluxDB")
    backtest.add_argument("--rules", nargs="+", type=Path, required=True, dest="rule_files")
    backtest.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC if no zone)")
    backtest.add_argument("--to", dest="end", required=True, help="end, ISO 8601")
    backtest.add_argument("--truth", type=Path, default=None, help="simulator ground truth (JSON lines)")
    backtest.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="ALERT=KIND[,KIND]",
        help="which fault kinds an alert detects (defaults known for the shipped rules)",
    )
    backtest.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    if args.action == "run":
        from jboxmon.services import Services

        return Services(load_config_or_exit(args), components=("rules",)).run_until_signal()
    if args.action == "check":
        return _check(args.files)
    if args.action == "test":
        from rules.unittest import run_test_files

        return run_test_files(args.files, influx_url=args.influx_url)
    from jboxmon.commands.backtest_cmd import run_backtest_command

    return run_backtest_command(args, load_config_or_exit(args))


def _check(files: list[Path]) -> int:
    from rules.loader import RulesError, load_rules

    try:
        groups = load_rules(files)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 2
    rules = sum(len(group.rules) for group in groups)
    print(f"OK: {len(files)} file(s), {len(groups)} group(s), {rules} rule(s)")
    for group in groups:
        for rule in group.rules:
            state = "" if rule.enabled else " (disabled)"
            print(
                f"  {group.name}/{rule.alert}{state}: {rule.condition.describe()}, for {rule.for_:g}s, "
                f"every {group.interval:g}s"
            )
    return 0
