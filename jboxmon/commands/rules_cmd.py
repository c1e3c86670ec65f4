"""``jboxmon rules check|test|backtest``: validate, unit-test and replay rule files."""

from __future__ import annotations

import argparse
import os
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
    where = test.add_mutually_exclusive_group()
    where.add_argument(
        "--influx-url",
        default=None,
        help="run the tests on this InfluxDB, with the configured credentials and TLS settings "
        "(default: a private influxd started for the run)",
    )
    where.add_argument(
        "--configured-influxdb",
        action="store_true",
        help="run the tests on the InfluxDB of the configuration (a fresh database per test, dropped after)",
    )
    backtest = actions.add_parser("backtest", help="replay the state machine over history in InfluxDB")
    backtest.add_argument("--rules", nargs="+", type=Path, required=True, dest="rule_files")
    backtest.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC if no zone)")
    backtest.add_argument("--to", dest="end", required=True, help="end, ISO 8601")
    backtest.add_argument("--truth", type=Path, default=None, help="simulator ground truth (JSON lines)")
    backtest.add_argument(
        "--database",
        default=None,
        help="replay the history of this database (e.g. one made by 'db init --backtest'), not influxdb.database",
    )
    backtest.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="ALERT=KIND[,KIND]",
        help="which fault kinds an alert detects (defaults known for the shipped rules)",
    )
    output = backtest.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON (with every episode)")
    output.add_argument("--csv", action="store_true", help="print every episode as CSV")
    backtest.add_argument(
        "--inventory",
        choices=("auto", "registry", "data"),
        default="auto",
        help="the boxes to evaluate: the registry (inventory.path), the boxes seen in the data plus the ground "
        "truth, or auto: the registry when it exists, else the data with a warning",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "run":
        from jboxmon.services import Services

        config = load_config_or_exit(args)
        _yield_cpu(config.rules.nice)
        return Services(config, components=("rules",)).run_until_signal()
    if args.action == "check":
        return _check(args.files)
    if args.action == "test":
        return _test(args)
    from jboxmon.commands.backtest_cmd import run_backtest_command

    return run_backtest_command(args, load_config_or_exit(args))


def _yield_cpu(niceness: int) -> None:
    """Run at ``niceness`` at least: every thread (Linux keeps a niceness per thread; threads
    started by imports exist already, later ones inherit it)."""
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except FileNotFoundError:  # no /proc: the calling thread, which the rest inherit
        threads = [0]
    for tid in threads:
        if niceness > os.getpriority(os.PRIO_PROCESS, tid):
            os.setpriority(os.PRIO_PROCESS, tid, niceness)


def _test(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rules.unittest import RulesTestOptions, run_test_files
    from storage import InfluxSettings

    influx = None
    if args.influx_url or args.configured_influxdb:
        influx = InfluxSettings.from_config(load_config_or_exit(args).influxdb)
        if args.influx_url:
            influx = replace(influx, url=args.influx_url)
    return run_test_files(args.files, RulesTestOptions(influx=influx))


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
