"""Benchmark: how soon SetpointNotFollowed catches stuck readings, with and without ``frozen``.

Two variants of the simulator's ``power_stuck`` faults, on the same fleets (private influxd,
10-s telemetry):

- **far**: the simulator's own stuck value (400-900 kW on the side away from the setpoint);
- **crossing**: the reading freezes at the value it had when the fault began (the setpoint then,
  plus measurement noise), so the moving aFRR/FCR setpoint crosses it again and again (idle boxes
  keep the far value).

Each is backtested with the shipped rule (``frozen: 10s``) and the same rule without ``frozen``
(the baseline, measured in the same run). Prints recall, precision and the delay distribution
(fault start -> firing) against ``for`` + one interval (190 s).

    .venv/bin/python bench/bench_stuck.py [--boxes 600] [--hours 3] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
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
from simulator.fleet import AFRR, IDLE
from simulator.physics import fcr_setpoint
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer

RULES = Path(__file__).resolve().parents[1] / "rules" / "default" / "jbox.yaml"


def crossing(scenario) -> None:
    """Freeze each stuck aFRR/FCR reading at its last value: the setpoint of its first sample, plus noise."""
    plan, fleet, grid, window = scenario.plan, scenario.fleet, scenario.grid, scenario.window
    rng = np.random.default_rng(scenario.seed)
    for event in plan.events:
        if event.kind != "power_stuck" or fleet.service[event.box] == IDLE:
            continue
        k = (event.start_ms - window.start_ms) // window.interval_ms
        if fleet.service[event.box] == AFRR:
            value = grid.afrr_level[k] * scenario.params.power_kw * fleet.afrr_gain[event.box]
        else:
            value = fcr_setpoint(float(grid.freq_hz[k]), scenario.params)
        last = value + rng.normal(0.0, scenario.params.noise_share * scenario.params.power_kw)  # its last reading
        plan.param[event.box] = event.details["stuck_kw"] = round(float(last), 1)


def rules_without_frozen(tmp: Path) -> Path:
    path = tmp / "no_frozen.yaml"
    path.write_text("\n".join(line for line in RULES.read_text().splitlines() if "frozen: " not in line))
    return path


def run(server: InfluxServer, variant: str, seed: int, args, tmp: Path, rule_files: dict) -> dict:
    name = f"stuck_{variant}_{seed}"
    settings = InfluxSettings.from_config(InfluxDBConfig(url=server.url, database=name, timeout="120s"))
    window = SimWindow.ending_at_hour(datetime.now(UTC), args.hours * 3600, 10)
    scenario = build_scenario(boxes=args.boxes, seed=seed, window=window, fault_rate=0.3, transient_rate=0.1)
    if variant == "crossing":
        crossing(scenario)
    with InfluxClient(settings) as client:
        client.create_database()
        run_backfill(scenario, lambda: InfluxClient(settings), writers=2)
        truth = load_truth(scenario.plan.write_ground_truth(tmp / f"{name}.jsonl"))
        inventory = [Box(b) for b in scenario.fleet.ids]
        out = {}
        for label, path in rule_files.items():
            groups = [g for g in load_rules([path]) if g.name == "power"]
            report = run_backtest(
                groups,
                client,
                window.start_ms * 1_000_000,
                window.end_ms * 1_000_000,
                faults=truth,
                inventory=inventory,
            )
            rule = report["rules"][0]
            stuck = [x["delay_s"] for x in rule["detectable_faults"] if x["kind"] == "power_stuck"]
            out[label] = {"precision": rule["precision"], "stuck": stuck, "transients": rule["transients_alerted"]}
        client.execute(f'DROP DATABASE "{name}"', database="")
    return out


def summary(delays: list, limit: float) -> str:
    got = np.array([d for d in delays if d is not None], dtype=float)
    missed = sum(d is None for d in delays)
    if not len(got):
        return f"{len(delays)} faults, none detected"
    q = np.percentile(got, [0, 50, 95, 100])
    within = np.mean(got <= limit)
    return (
        f"{len(delays):3d} faults, missed {missed}, delay min {q[0]:.0f}s median {q[1]:.0f}s p95 {q[2]:.0f}s "
        f"max {q[3]:.0f}s, within {limit:.0f}s: {within:.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=600)
    parser.add_argument("--hours", type=float, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    assert f.KINDS[f.POWER_STUCK] == "power_stuck"
    with tempfile.TemporaryDirectory() as tmp_dir, InfluxServer(Path(tmp_dir) / "influxdb") as server:
        tmp = Path(tmp_dir)
        rule_files = {"frozen: 10s": RULES, "baseline (no frozen)": rules_without_frozen(tmp)}
        for variant in ("far", "crossing"):
            results = {label: {"stuck": [], "precision": [], "transients": 0} for label in rule_files}
            for seed in args.seeds:
                for label, one in run(server, variant, seed, args, tmp, rule_files).items():
                    results[label]["stuck"] += one["stuck"]
                    results[label]["precision"].append(one["precision"])
                    results[label]["transients"] += one["transients"]
            print(f"== stuck readings, {variant} ({args.boxes} boxes x {args.hours:g} h, seeds {args.seeds})")
            for label, r in results.items():
                precision = min(p for p in r["precision"] if p is not None)
                print(
                    f"  {label:<22} {summary(r['stuck'], 190)}; precision (min over seeds) {precision:.3f}, "
                    f"transients alerted {r['transients']}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
