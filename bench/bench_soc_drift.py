"""Benchmark: how soon SoCEstimateDrift catches SoC estimator drifts, with and without the baseline.

Two variants of the simulator's ``soc_drift`` faults, on the same fleets (private influxd, 10-s
telemetry, 1 h of history before the faults may start):

- **fast**: the simulator's own drift (to 5 % or 95 % within 60 % of the fault: ~1-3 points/min);
- **slow**: every drift at ``--slow-rate`` points per minute (0.3 by default: ~3 points in 10 min).

Each is backtested with the shipped energy group (``baseline: {window: 1h, value: ...}``) and the
same rule without ``baseline`` (the rule before, measured in the same run). Prints recall,
precision and the delay distribution (drift start -> firing) against 10 minutes.

    .venv/bin/python bench/bench_soc_drift.py [--boxes 400] [--hours 4] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from config.model import InfluxDBConfig
from inventory import Box
from rules.backtest import load_truth, run_backtest
from rules.loader import load_rules
from simulator import faults as f
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer

RULES = Path(__file__).resolve().parents[1] / "rules" / "default" / "jbox.yaml"
WARM_UP_MS = 3_600_000  # the baseline's window: faults start after it


def slow(scenario, rate: float) -> None:
    """Every soc_drift at ``rate`` points per minute, in its drawn direction."""
    plan = scenario.plan
    for event in plan.events:
        if event.kind == "soc_drift":
            sign = 1.0 if event.details["direction"] == "high" else -1.0
            plan.param[event.box] = sign * rate
            event.details["rate_pct_per_min"] = rate


def rules_without_baseline(tmp: Path) -> Path:
    path = tmp / "no_baseline.yaml"
    path.write_text(re.sub(r", baseline: \{[^}]*\}", "", RULES.read_text()))
    return path


def run(server: InfluxServer, variant: str, seed: int, args, tmp: Path, rule_files: dict) -> dict:
    name = f"soc_{variant}_{seed}"
    settings = InfluxSettings.from_config(InfluxDBConfig(url=server.url, database=name, timeout="120s"))
    window = SimWindow.ending_at_hour(datetime.now(UTC), args.hours * 3600, 10)
    scenario = build_scenario(boxes=args.boxes, seed=seed, window=window, fault_rate=0.3, transient_rate=0.1)
    if variant == "slow":
        slow(scenario, args.slow_rate)
    with InfluxClient(settings) as client:
        client.create_database()
        run_backfill(scenario, lambda: InfluxClient(settings), writers=2)
        truth = load_truth(scenario.plan.write_ground_truth(tmp / f"{name}.jsonl"))
        inventory = [Box(b) for b in scenario.fleet.ids]
        start = (window.start_ms + WARM_UP_MS) * 1_000_000
        out = {}
        for label, path in rule_files.items():
            groups = [g for g in load_rules([path]) if g.name == "energy"]
            report = run_backtest(groups, client, start, window.end_ms * 1_000_000, faults=truth, inventory=inventory)
            rule = next(r for r in report["rules"] if r["alert"] == "SoCEstimateDrift")
            delays = [x["delay_s"] for x in rule["detectable_faults"] if x["kind"] == "soc_drift"]
            out[label] = {"precision": rule["precision"], "delays": delays, "alerts": rule["alerts"]}
        client.execute(f'DROP DATABASE "{name}"', database="")
    return out


def summary(delays: list, limit: float) -> str:
    got = np.array([d for d in delays if d is not None], dtype=float)
    missed = sum(d is None for d in delays)
    if not len(got):
        return f"{len(delays)} drifts, none detected"
    q = np.percentile(got, [0, 50, 95, 100])
    return (
        f"{len(delays):3d} drifts, missed {missed}, delay min {q[0]:.0f}s median {q[1]:.0f}s p95 {q[2]:.0f}s "
        f"max {q[3]:.0f}s, within {limit:.0f}s: {np.mean(got <= limit):.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=400)
    parser.add_argument("--hours", type=float, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--slow-rate", type=float, default=0.3, help="points per minute")
    parser.add_argument("--variants", nargs="+", choices=("fast", "slow"), default=["fast", "slow"])
    args = parser.parse_args()
    assert f.KINDS[f.SOC_DRIFT] == "soc_drift"
    with tempfile.TemporaryDirectory() as tmp_dir, InfluxServer(Path(tmp_dir) / "influxdb") as server:
        tmp = Path(tmp_dir)
        rule_files = {"baseline 1h (shipped)": RULES, "no baseline (before)": rules_without_baseline(tmp)}
        for variant in args.variants:
            results = {label: {"delays": [], "precision": [], "alerts": 0} for label in rule_files}
            for seed in args.seeds:
                for label, one in run(server, variant, seed, args, tmp, rule_files).items():
                    results[label]["delays"] += one["delays"]
                    results[label]["precision"].append(one["precision"])
                    results[label]["alerts"] += one["alerts"]
            print(f"== SoC estimator drifts, {variant} ({args.boxes} boxes x {args.hours:g} h, seeds {args.seeds})")
            for label, r in results.items():
                precisions = [p for p in r["precision"] if p is not None]
                precision = f"{min(precisions):.3f}" if precisions else "-"
                print(
                    f"  {label:<22} {summary(r['delays'], 600)}; precision (min over seeds) {precision}, "
                    f"alerts {r['alerts']}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
