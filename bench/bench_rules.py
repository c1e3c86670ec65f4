"""Benchmark: rule evaluation cost against the bare InfluxQL it runs, and backtest quality, on a private influxd.

Part 1, for each fleet size (1,000 and 10,000 boxes, one hour of 10-s telemetry from the simulator):
  (a) baseline: the InfluxQL statements of the default rules for ONE live-style evaluation (one
      evaluation time per group), each run with ``InfluxClient.query_raw`` (HTTP + JSON decode);
  (b) ``RuleEngine.evaluate(group, [t])`` for every default group: the same statements, plus
      DataFrames, the conditions' pandas code, the state machine and the alert annotations.
  Both run in the same process against the same data, interleaved, median of ``--repeat`` runs
  after one warm-up; the ratio (b)/(a) is the engine's overhead (target: <= 1.3x).

Part 2: ``rules backtest`` of the default rules on simulator history for several seeds (1,000 boxes,
6 h by default): precision, recall and detection delay per rule, and what the replay cost.

    .venv/bin/python bench/bench_rules.py [--sizes 1000 10000] [--repeat 5]
        [--seeds 1 2 3] [--backtest-boxes 1000] [--backtest-hours 6] [--skip-backtest]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from config.model import InfluxDBConfig
from inventory import Box
from rules.backtest import load_truth, run_backtest
from rules.engine import RuleEngine
from rules.loader import load_rules
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer

RULES = Path(__file__).resolve().parents[1] / "rules" / "default" / "jbox.yaml"
NS = 1_000_000_000


def backfilled(server: InfluxServer, name: str, boxes: int, hours: float, seed: int, tmp: Path):
    """A fresh database holding a simulated fleet's history ending at this hour; (client, scenario, truth)."""
    settings = InfluxSettings.from_config(InfluxDBConfig(url=server.url, database=name, timeout="120s"))
    client = InfluxClient(settings)
    client.create_database()
    window = SimWindow.ending_at_hour(datetime.now(UTC), hours * 3600, 10)
    scenario = build_scenario(boxes=boxes, seed=seed, window=window)
    report = run_backfill(scenario, lambda: InfluxClient(settings), writers=3)
    print(f"  backfill {boxes:,} boxes x {hours:g} h: {report.total:,} points in {report.seconds:.1f}s")
    truth = scenario.plan.write_ground_truth(tmp / f"{name}.jsonl")
    return client, scenario, truth


def live_evaluation(client: InfluxClient, scenario, repeat: int) -> dict:
    """Median seconds of one evaluation of every group: bare queries vs the engine."""
    groups = load_rules([RULES])
    inventory = [Box(jbox_id) for jbox_id in scenario.fleet.ids]
    t = scenario.window.end_ms * 1_000_000  # a multiple of every group's interval
    statements: list[str] = []

    def recording(statement: str):
        statements.append(statement)
        return client.query(statement)

    engine = RuleEngine(groups, recording, lambda: inventory)
    for group in groups:  # warm-up: InfluxDB caches, pandas imports; records the statements
        engine.evaluate(group, [t])

    raw_runs, engine_runs, per_rule = [], [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        for statement in statements:
            client.query_raw(statement)
        raw_runs.append(time.perf_counter() - started)

        engine = RuleEngine(groups, client.query, lambda: inventory)
        started = time.perf_counter()
        for group in groups:
            result = engine.evaluate(group, [t])
            assert not result.errors, result.errors
        engine_runs.append(time.perf_counter() - started)
        for rules in engine.rules.values():
            for loaded in rules:
                per_rule.setdefault(loaded.key, []).append(loaded.last_duration_s)
    return {
        "queries": len(statements),
        "raw_s": statistics.median(raw_runs),
        "engine_s": statistics.median(engine_runs),
        "per_rule_s": {key: statistics.median(values) for key, values in per_rule.items()},
    }


def part_live(server: InfluxServer, sizes: list[int], repeat: int, tmp: Path) -> None:
    print("== part 1: one live-style evaluation of every default group (1 h of 10-s history)")
    results = {}
    for boxes in sizes:
        client, scenario, _ = backfilled(server, f"bench_live_{boxes}", boxes, 1.0, 7, tmp)
        results[boxes] = r = live_evaluation(client, scenario, repeat)
        client.close()
        print(
            f"  {boxes:>6,} boxes: (a) bare InfluxQL {r['raw_s'] * 1000:8.1f} ms   (b) engine "
            f"{r['engine_s'] * 1000:8.1f} ms   overhead (b)/(a) = {r['engine_s'] / r['raw_s']:.2f}x "
            f"({r['queries']} queries, median of {repeat})"
        )
        for key, seconds in r["per_rule_s"].items():
            print(f"           {key:<28} {seconds * 1000:8.1f} ms (query + pandas)")
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        a, b = results[small], results[large]
        print(
            f"  cost x{large / small:g} boxes: engine x{b['engine_s'] / a['engine_s']:.1f}, "
            f"bare queries x{b['raw_s'] / a['raw_s']:.1f}; per box per evaluation round: "
            f"{a['engine_s'] / small * 1e6:.0f} us at {small:,}, {b['engine_s'] / large * 1e6:.0f} us at {large:,}"
        )


def part_backtest(server: InfluxServer, seeds: list[int], boxes: int, hours: float, tmp: Path) -> None:
    print(f"== part 2: backtest of the default rules, {boxes:,} boxes x {hours:g} h, seeds {seeds}")
    groups = load_rules([RULES])
    for seed in seeds:
        client, scenario, truth = backfilled(server, f"bench_bt_{seed}", boxes, hours, seed, tmp)
        start, end = scenario.window.start_ms * 1_000_000, scenario.window.end_ms * 1_000_000
        inventory = [Box(jbox_id) for jbox_id in scenario.fleet.ids]
        report = run_backtest(groups, client, start, end, faults=load_truth(truth), inventory=inventory)
        client.close()
        print(
            f"  seed {seed}: replay {report['evaluations']:,} evaluations, {report['queries']} queries "
            f"in {report['seconds']:.1f}s (chunks of {report['chunk_s']}s); "
            f"{report['truth']['faults']} faults, {report['truth']['transients']} transients"
        )
        print(
            f"    {'rule':<28} {'alerts':>6} {'warm-up':>7} {'flaps':>5} {'precision':>9} {'recall':>12} "
            f"{'delay mean':>10} {'p95':>7} {'max':>7} {'transients':>10}"
        )
        for rule in report["rules"]:
            if rule["scope"] == "fleet":
                print(
                    f"    {rule['rule']:<28} {rule['alerts']:>6} {rule['warm_up_alerts']:>7} {rule['flaps']:>5}"
                    "   (fleet rule: counts only)"
                )
                continue
            delay = rule["delay_s"]
            precision = "-" if rule["precision"] is None else f"{rule['precision']:.3f}"
            recall = "-" if rule["recall"] is None else f"{rule['recall']:.3f}"
            print(
                f"    {rule['rule']:<28} {rule['alerts']:>6} {rule['warm_up_alerts']:>7} {rule['flaps']:>5} "
                f"{precision:>9} "
                f"{recall:>5} ({rule['detected']:>2}/{rule['detectable']:<2}) "
                f"{_s(delay['mean']):>10} {_s(delay['p95']):>7} {_s(delay['max']):>7} "
                f"{rule['transients_alerted']:>4}/{rule['transients']:<4}"
            )


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--backtest-boxes", type=int, default=1000)
    parser.add_argument("--backtest-hours", type=float, default=6.0)
    parser.add_argument("--skip-backtest", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, InfluxServer(Path(data_dir) / "influxdb") as server:
        tmp = Path(data_dir)
        part_live(server, args.sizes, args.repeat, tmp)
        if not args.skip_backtest:
            part_backtest(server, args.seeds, args.backtest_boxes, args.backtest_hours, tmp)


if __name__ == "__main__":
    main()
