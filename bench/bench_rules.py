"""Benchmark: rule evaluation cost against the bare InfluxQL it runs, and backtest quality, on a private influxd.

Part 1, for each fleet size (1,000 and 10,000 boxes by default; 30,000 with ``--sizes``; one hour
of 10-s telemetry from the simulator): every default group evaluated live-style, one time after
another at its interval, for ``--rounds`` minutes, by
  (a) the full-window baseline, today's engine before incremental reads: every window read whole,
      the deviation's buckets made by an InfluxQL subquery;
  (b) the incremental engine: one read per distinct statement of a group, only the buckets not
      read before plus ``late_data``; deviation from the raw samples of its two fields;
  (c) the same engine answered by the write stream (``jboxmon rules run``'s default): the history's
      lines fed to a SampleStream minute by minute, as InfluxDB forwards them; the feeding is timed
      apart (the receiver's work, not an evaluation's).
  All in the same process against the same data, interleaved minute by minute; the first minute
  (cold reads) is left out. Prints each group's mean evaluation and the engine's busy share
  (sum over groups of mean evaluation / interval), and the ratios to (a).

Part 2: ``rules backtest`` of the default rules on simulator history for several seeds (1,000 boxes,
6 h by default): precision, recall and detection delay per rule, and what the replay cost.

    .venv/bin/python bench/bench_rules.py [--sizes 1000 10000] [--rounds 3]
        [--seeds 1 2 3] [--backtest-boxes 1000] [--backtest-hours 6] [--skip-backtest]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from config.model import InfluxDBConfig
from inventory import Box
from rules.backtest import load_truth, run_backtest
from rules.engine import RuleEngine
from rules.loader import load_rules
from rules.stream import SampleStream
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient, InfluxSettings
from storage.lineprotocol import encode_point
from storage.server import InfluxServer

RULES = Path(__file__).resolve().parents[1] / "rules" / "default" / "jbox.yaml"
NS = 1_000_000_000
_RAW_DEVIATION = re.compile(
    r'SELECT "(.+?)" AS "f", "(.+?)" AS "r", "jbox_id" FROM (.+?) WHERE (time >= \d+ AND time < \d+)$'
)


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


def legacy_statement(statement: str) -> str:
    """Today's (before incremental reads) deviation statement for the raw one: an InfluxQL subquery
    making the buckets, whose frame the condition still evaluates. Other statements are unchanged."""
    match = _RAW_DEVIATION.match(statement)
    if not match:
        return statement
    field, reference, source, span = match.groups()
    f, r = f'"{field}"', f'"{reference}"'
    gap = f"abs({f} - {r})"
    inner = (  # the shipped rule's tolerance
        f"SELECT {gap} AS dev, {gap} - (50.0 + 0.1 * abs({r})) AS excess, {f} AS f, {r} AS r "
        f'FROM {source} WHERE {span} GROUP BY "jbox_id"'
    )
    return (
        "SELECT sum(excess) AS excess, sum(dev) AS dev, count(dev) AS n, max(f) AS fmax, min(f) AS fmin, "
        f"last(f) AS flast, max(r) AS rmax, min(r) AS rmin FROM ({inner}) WHERE {span} "
        'GROUP BY time(10s), "jbox_id" fill(none)'
    )


def without_baseline(path: Path) -> Path:
    """The rule file as it was before the energy_balance baseline (a temporary copy)."""
    copy = Path(tempfile.mkdtemp()) / path.name
    copy.write_text(re.sub(r", baseline: \{[^}]*\}", "", path.read_text()))
    return copy


def live_evaluation(client: InfluxClient, scenario, rounds: int) -> dict:
    """Mean seconds per evaluation of each group, live-style (one time after another, each group at
    its interval over ``rounds`` minutes), for (a) the full-window baseline: every window read whole,
    deviation through today's subquery, and (b) the incremental engine. Interleaved per minute, both
    on the same data; the first minute (cold reads of the whole window) is left out of the means."""
    groups = load_rules([RULES])
    inventory = [Box(jbox_id) for jbox_id in scenario.fleet.ids]
    end = scenario.window.end_ms * 1_000_000  # a multiple of every group's interval
    start = end - (rounds + 1) * 60 * NS
    counted = {"baseline": [0, 0], "incremental": [0, 0], "stream": [0, 0]}
    now = [start / NS - 60]  # subscribed a minute before the evaluations begin
    stream = SampleStream(hold_s=600, clock=lambda: now[0])
    fed = [0.0, 0]  # seconds feeding the stream, lines

    def query(name: str):
        def run(statement: str):
            frame = client.query(legacy_statement(statement) if name == "baseline" else statement)
            counted[name][0] += 1
            counted[name][1] += len(frame)
            return frame

        return run

    before = load_rules([without_baseline(RULES)])  # today's rules: SoCEstimateDrift without its baseline fit
    engines = {
        "baseline": RuleEngine(before, query("baseline"), lambda: inventory, late_data_s=None),
        "incremental": RuleEngine(groups, query("incremental"), lambda: inventory),
        "stream": RuleEngine(groups, query("stream"), lambda: inventory, stream=stream),
    }
    stream.feed("")  # subscribed before the history began: complete from its start
    seconds = {name: {g.name: [] for g in groups} for name in engines}
    for minute in range(rounds + 1):
        lines = _forwarded(client, start + minute * 60 * NS, start + (minute + 1) * 60 * NS)
        began = time.perf_counter()
        for batch in range(0, len(lines), 5000):  # as InfluxDB forwards the collector's writes
            stream.feed("\n".join(lines[batch : batch + 5000]))
        fed[0] += time.perf_counter() - began
        fed[1] += len(lines)
        now[0] = (start + (minute + 1) * 60 * NS) / NS
        for name, engine in engines.items():
            for group in engine.groups:
                step = int(group.interval) * NS
                for t in range(start + minute * 60 * NS, start + (minute + 1) * 60 * NS, step):
                    started = time.perf_counter()
                    result = engine.evaluate(group, [t + step])
                    if minute:
                        seconds[name][group.name].append(time.perf_counter() - started)
                    assert not result.errors, result.errors
    return {
        name: {
            "per_group_s": {g: statistics.mean(v) for g, v in per_group.items()},
            "busy": sum(statistics.mean(v) / int(g.interval) for g, v in zip(groups, per_group.values(), strict=True)),
            "queries": counted[name][0],
            "rows": counted[name][1],
            "answered": engines[name].reader.rows_answered,
        }
        for name, per_group in seconds.items()
    } | {"feed": {"seconds": fed[0], "lines": fed[1]}}


def _forwarded(client: InfluxClient, start: int, end: int) -> list[str]:
    """The telemetry and heartbeat lines written in [start, end): what InfluxDB forwards."""
    lines = []
    for measurement in ("telemetry", "heartbeat"):
        frame = client.query(f'SELECT * FROM "{measurement}" WHERE time >= {start} AND time < {end} GROUP BY *')
        if frame.empty:
            continue
        tags = [c for c in frame.columns if c in ("jbox_id", "site", "region", "service")]
        fields = [c for c in frame.columns if c not in (*tags, "time", "measurement")]
        t_ns = (frame["time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
        for row, t in zip(frame[tags + fields].itertuples(index=False), t_ns, strict=True):
            values = dict(zip(tags + fields, row, strict=True))
            present = {k: v for k, v in values.items() if k in fields and v is not None and v == v}
            lines.append(encode_point(measurement, {k: values[k] for k in tags if values[k]}, present, int(t)))
    return lines


def part_live(server: InfluxServer, sizes: list[int], rounds: int, tmp: Path) -> None:
    print(f"== part 1: live-style evaluation of every default group over {rounds} minute(s), 1 h of 10-s history")
    print("   (a) full-window baseline (today's engine: every window read whole, deviation by subquery)")
    print("   (b) incremental engine (reads only what is new plus rules.late_data)")
    print("   (c) the same, new buckets answered by the write stream (rules run's default)")
    for boxes in sizes:
        client, scenario, _ = backfilled(server, f"bench_live_{boxes}", boxes, 1.0, 7, tmp)
        r = live_evaluation(client, scenario, rounds)
        client.close()
        a, b, c, feed = r["baseline"], r["incremental"], r["stream"], r["feed"]
        print(
            f"  {boxes:>6,} boxes: engine busy (sum of mean evaluation / interval) (a) {a['busy']:.3f}  "
            f"(b) {b['busy']:.3f}  (c) {c['busy']:.3f}; (a)/(b) = {a['busy'] / b['busy']:.2f}x, "
            f"(a)/(c) = {a['busy'] / c['busy']:.2f}x; rows read from InfluxDB (a) {a['rows']:,} (b) {b['rows']:,} "
            f"(c) {c['rows']:,} (+{c['answered']:,} from the stream)"
        )
        per_line = feed["seconds"] / max(feed["lines"], 1) * 1e6
        fed = f"{feed['lines']:,} lines in {feed['seconds']:.1f} s ({per_line:.1f} us a line)"
        print(f"           feeding the stream: {fed}")
        for group, seconds in a["per_group_s"].items():
            other, streamed = b["per_group_s"][group], c["per_group_s"][group]
            print(
                f"           {group:<10} mean evaluation (a) {seconds * 1000:8.1f} ms  (b) {other * 1000:8.1f} ms"
                f"  (c) {streamed * 1000:8.1f} ms  (a)/(b) {seconds / other:5.2f}x  (a)/(c) {seconds / streamed:5.2f}x"
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
    parser.add_argument("--rounds", type=int, default=3, help="minutes of live-style evaluations per size")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--backtest-boxes", type=int, default=1000)
    parser.add_argument("--backtest-hours", type=float, default=6.0)
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, InfluxServer(Path(data_dir) / "influxdb") as server:
        tmp = Path(data_dir)
        if not args.skip_live:
            part_live(server, args.sizes, args.rounds, tmp)
        if not args.skip_backtest:
            part_backtest(server, args.seeds, args.backtest_boxes, args.backtest_hours, tmp)


if __name__ == "__main__":
    main()
