"""``jboxmon rules backtest``: arguments in, a report of the replay out."""

from __future__ import annotations

import argparse
import json
import sys

from config import JboxmonConfig
from inventory import Registry
from jboxmon.commands.db import settings_for
from jboxmon.progress import terminal_progress
from rules.backtest.command import PROG, BacktestOptions, load_inputs, render, run_backtest
from rules.backtest.data import data_inventory, registry_inventory
from rules.backtest.episodes import to_csv
from rules.backtest.truth import BacktestError, parse_time
from simulator.faults import KINDS
from storage import InfluxClient, InfluxError

NO_DATA = 3


def options_from(args: argparse.Namespace) -> BacktestOptions:
    """The parsed arguments as typed options; raises BacktestError on a bad time."""
    return BacktestOptions(
        rule_files=tuple(args.rule_files),
        start=parse_time(args.start, "--from"),
        end=parse_time(args.end, "--to"),
        truth=args.truth,
        match=tuple(args.match),
        fault_kinds=frozenset(KINDS),
    )


def run_backtest_command(args: argparse.Namespace, config: JboxmonConfig) -> int:
    """The CLI verb: parse and check arguments, run, print; exit 0, 1 (InfluxDB), 2 (arguments), 3 (no data)."""
    try:
        options = options_from(args)
        inputs = load_inputs(options)
        registry = Registry.from_config(config.inventory)
        inventory = registry_inventory(registry) if args.inventory != "data" else None
        if args.inventory == "registry" and inventory is None:
            raise BacktestError(f"--inventory registry: no registry at {registry.path} (inventory.path in the config)")
    except BacktestError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        with InfluxClient(settings_for(config, args.database)) as client:
            source = f"registry {registry.path}"
            if inventory is None:
                if args.inventory != "data":  # never a silent fallback: boxes that never reported are missed
                    print(
                        f"{PROG}: warning: no registry at {registry.path}: the inventory is the boxes seen in the data "
                        "and the ground truth; a box that never reported cannot fire (--inventory data to "
                        "choose this)",
                        file=sys.stderr,
                    )
                inventory, source = data_inventory(client, inputs.faults), "data (SHOW TAG VALUES) + ground truth"
            report = run_backtest(
                inputs.groups,
                client,
                options.start,
                options.end,
                faults=inputs.faults,
                match=inputs.match,
                inventory=inventory,
                inventory_source=source,
                box_energy_kwh=config.fleet.box_energy_kwh,
                payload_versions=config.collector.payload_versions,
                progress=terminal_progress(),
            )
    except InfluxError as exc:
        print(f"{PROG}: InfluxDB: {exc}", file=sys.stderr)
        return 1
    for warning in report["warnings"]:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if args.csv:
        print(to_csv(report["episodes"]), end="")
    else:
        print(json.dumps(report, indent=2, sort_keys=True) if args.json else render(report))
    return 0 if report["data"]["points_in_window"] else NO_DATA
