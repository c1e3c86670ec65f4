"""``jboxmon rules backtest``: arguments in, a report of the replay out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from config import JboxmonConfig
from rules.backtest.command import PROG, data_inventory, registry_inventory, render, run_backtest
from rules.backtest.truth import BacktestError, load_truth, parse_matches, parse_time
from rules.loader import RulesError, load_rules
from simulator.faults import KINDS
from storage import InfluxClient, InfluxError, InfluxSettings


def run_backtest_command(args: argparse.Namespace, config: JboxmonConfig) -> int:
    """The CLI verb: parse and check arguments, run, print; exit 0, 1 (InfluxDB) or 2 (arguments)."""
    try:
        start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
        if end <= start:
            raise BacktestError(f"--to ({args.end}) must be after --from ({args.start})")
        try:
            groups = load_rules(args.rule_files)
        except RulesError as exc:
            raise BacktestError("\n".join(exc.problems)) from None
        faults = load_truth(args.truth) if args.truth is not None else None
        alerts = {r.alert for g in groups for r in g.rules}
        kinds = set(KINDS) | {f.kind for f in faults or ()}
        match = parse_matches(args.match, alerts, kinds)
    except BacktestError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        with InfluxClient(InfluxSettings.from_config(config.influxdb)) as client:
            inventory = registry_inventory(Path(config.inventory.path))
            source = f"registry {config.inventory.path}"
            if not inventory:
                inventory, source = data_inventory(client, faults), "data (SHOW TAG VALUES) + ground truth"
            report = run_backtest(
                groups, client, start, end, faults=faults, match=match, inventory=inventory, inventory_source=source
            )
    except InfluxError as exc:
        print(f"{PROG}: InfluxDB: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else render(report))
    return 0
