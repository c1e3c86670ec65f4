"""Benchmark: the whole node, collector + rules engine (shipped rules) + alerting on one private influxd.

A fleet offered on schedule (bench/loadgen.py: each box samples once per second and pushes its 10
samples as one payload-v2 request every 10 s, timestamped with the wall clock) goes through
``jboxmon collector``; ``jboxmon rules run`` evaluates the shipped rules on what arrives and hands
its alerts to ``jboxmon alerting``, each a process of its own, all on one InfluxDB. Printed:

- ack latency from each request's due time (p50/p99/max), loss (acknowledged points counted back);
- per rule group, from the rules service's /metrics over the measured span: evaluations run against
  due (span / interval), mean and max evaluation time against the interval, and the lag from an
  evaluation's time to its end (a sample is seen by the evaluation at most one interval plus that
  lag after it arrived); the engine's busy share (sum over groups of mean evaluation / interval);
- the verdict: HOLDS when p99 < 250 ms, 0 loss, and every group ran every due evaluation (one
  missing at the edges allowed) within its interval.

The first ``--warm-up`` seconds (the rules' cold reads of their whole windows, the fleet's first
pushes) are left out of the group figures. ``--search`` bisects for the largest fleet that holds.
``--rules-after S`` starts the rules engine S seconds after the fleet's first push (a cold start
beside a fleet already writing: whether the stream can be filled back, see rules/subscription.py).
The machine is shared and small: figures are noisy; run it on an idle node for capacity numbers.

    .venv/bin/python bench/bench_node.py [--boxes 10000 30000] [--seconds 180] [--warm-up 60] [--compare TREE]
    .venv/bin/python bench/bench_node.py --boxes 10000 --seconds 150 --warm-up 40 --rules-after 30
    .venv/bin/python bench/bench_node.py --search [--low 2000] [--high 30000] [--seconds 120]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench_fleet_load import P99_TARGET_MS, issue_fleet
from common import child_pids, jboxmon_cli, tree_options
from loadgen import FleetRun, run_fleet

from rules.loader import load_rules
from storage import InfluxClient, InfluxSettings
from storage.http import HttpClient, HttpError, HttpSettings
from storage.server import InfluxServer, free_port

RULES = Path(__file__).resolve().parents[1] / "rules" / "default" / "jbox.yaml"
_SAMPLE = re.compile(r'^(jboxmon_rules_\w+?)(_count|_sum|_bucket)?\{group="([^"]+)"(?:,le="([^"]+)")?\} (\S+)$')
_ROWS = re.compile(r'^jboxmon_rules_read_rows_total\{source="(\w+)"\} (\S+)$')


def config_text(
    tmp: str,
    influx_url: str,
    rules_port: int,
    alerting_port: int,
    rules_file: Path = RULES,
    tree: Path | None = None,
    collector_workers: int = 1,
) -> str:
    # every service listens on loopback and the bench reads /metrics freely; a tree from before
    # operator credentials knows no `auth:` section
    root = tree if tree is not None else Path(__file__).resolve().parents[1]
    auth = "auth: {mode: none}\n" if (root / "config" / "auth.py").exists() else ""
    services = f"""influxdb:
  url: {influx_url}
  database: fleet
  gzip: false
inventory:
  path: {tmp}/registry.sqlite
collector:
  spool_dir: {tmp}/spool
  workers: {collector_workers}
rules:
  files: [{rules_file}]
  state_db: {tmp}/rules-state.sqlite
  listen: 127.0.0.1:{rules_port}
  alerting_url: http://127.0.0.1:{alerting_port}/api/v2/alerts
alerting:
  listen: 127.0.0.1:{alerting_port}
  external_url: http://127.0.0.1:{alerting_port}
  outbox: {tmp}/alerting/outbox.sqlite
  silences: {tmp}/alerting/silences.sqlite
  history: {tmp}/alerting/history.sqlite
  route: {{receiver: log}}
  receivers: [{{name: log}}]
retention: {{enabled: false}}
"""
    return auth + services


def start_service(
    config: Path, verb: list[str], port: int, timeout_s: float = 90.0, tree: Path | None = None
) -> subprocess.Popen:
    process = subprocess.Popen(
        [*jboxmon_cli(config), *verb], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **tree_options(tree)
    )
    deadline = time.monotonic() + timeout_s
    with HttpClient(f"http://127.0.0.1:{port}", HttpSettings(timeout_s=1)) as http:
        while time.monotonic() < deadline:
            try:
                http.request("GET", "/health", check=False)
                return process
            except HttpError:
                time.sleep(0.1)
    process.kill()
    raise SystemExit(f"jboxmon {' '.join(verb)} did not start on port {port}")


def scrape(port: int) -> dict[tuple[str, str, str], float]:
    """(metric, group, le) -> value of the rules service's per-group histograms."""
    with HttpClient(f"http://127.0.0.1:{port}", HttpSettings(timeout_s=10)) as http:
        text = http.request("GET", "/metrics").text
    out = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            name, suffix, group, le, value = match.groups()
            out[(name + (suffix or ""), group, le or "")] = float(value)
        rows = _ROWS.match(line)
        if rows:  # where the rules' rows came from: InfluxDB queries or the write stream
            out[("rows", rows.group(1), "")] = float(rows.group(2))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (collector workers), Linux /proc;
    0 for a process that ended meanwhile."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in child_pids(pid))


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (all cores, Linux /proc/stat): the load generator
    and everything else included."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class GroupFigures:
    name: str
    interval_s: int
    run: int
    due: float
    mean_s: float
    max_bucket_s: float  # the evaluation-time histogram's bucket holding the slowest evaluation
    lag_p99_s: float

    @property
    def on_time(self) -> bool:
        # a span of 9.03 intervals holds 9 or 10 due times by its phase: one missing at the edges allowed
        return self.run >= math.floor(self.due) - 1 and self.max_bucket_s <= self.interval_s


def group_figures(before: dict, after: dict, span_s: float) -> list[GroupFigures]:
    figures = []
    for group in load_rules([RULES]):
        name, interval = group.name, int(group.interval)

        def delta(metric: str, le: str = "", group_name: str = name) -> float:
            return after.get((metric, group_name, le), 0.0) - before.get((metric, group_name, le), 0.0)

        count = delta("jboxmon_rules_group_evaluation_seconds_count")
        total = delta("jboxmon_rules_group_evaluation_seconds_sum")
        figures.append(
            GroupFigures(
                name,
                interval,
                int(count),
                span_s / interval,
                total / count if count else float("nan"),
                _bucket_of_max(after, before, "jboxmon_rules_group_evaluation_seconds", name, count),
                _quantile(after, before, "jboxmon_rules_evaluation_lag_seconds", name, 0.99),
            )
        )
    return figures


def _buckets(after: dict, before: dict, metric: str, group: str) -> list[tuple[float, float]]:
    rows = [
        (float(le), value - before.get((name, g, le), 0.0))
        for (name, g, le), value in after.items()
        if name == metric + "_bucket" and g == group
    ]
    return sorted(rows)


def _bucket_of_max(after: dict, before: dict, metric: str, group: str, count: float) -> float:
    for le, cumulative in _buckets(after, before, metric, group):
        if cumulative >= count:
            return le
    return float("inf")


def _quantile(after: dict, before: dict, metric: str, group: str, share: float) -> float:
    rows = _buckets(after, before, metric, group)
    total = rows[-1][1] if rows else 0
    for le, cumulative in rows:
        if total and cumulative >= share * total:
            return le
    return float("nan")


@dataclass
class NodeOutcome:
    run: FleetRun
    stored: int
    groups: list[GroupFigures]
    cpu: dict[str, float]  # process -> CPU seconds per second over the measured span
    rows: dict[str, float]  # source -> rows the rules read over the measured span

    @property
    def loss(self) -> int:
        return self.run.points_acked - self.stored

    @property
    def busy(self) -> float:
        return sum(g.mean_s / g.interval_s for g in self.groups if g.run)

    @property
    def holds(self) -> bool:
        run = self.run
        return (
            not run.generator_behind
            and run.errors == 0
            and run.accepted == run.offered
            and self.loss == 0
            and run.percentile_ms(0.99) < P99_TARGET_MS
            and all(g.on_time for g in self.groups)
        )


def one_node(
    boxes: int,
    seconds: int,
    warm_up: int,
    processes: int,
    connections: int,
    collector_workers: int = 1,
    rules_after: int = 0,
    tree: Path | None = None,
) -> NodeOutcome:
    """A fresh InfluxDB, collector, rules engine and alerting (of ``tree``, else this one) under the
    fleet; the rules engine started ``rules_after`` seconds after the fleet's first push (0: before)."""
    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        rules_port, alerting_port, collector_port = free_port(), free_port(), free_port()
        config = Path(tmp) / "jboxmon.yaml"
        rules_file = RULES if tree is None else tree / "rules" / "default" / "jbox.yaml"
        config.write_text(config_text(tmp, influxd.url, rules_port, alerting_port, rules_file, tree, collector_workers))
        InfluxClient(InfluxSettings(url=influxd.url, database="fleet")).create_database()
        tokens = issue_fleet(f"{tmp}/registry.sqlite", boxes, tree)
        processes_ = [start_service(config, ["alerting"], alerting_port, tree=tree)]
        try:
            processes_.append(
                start_service(
                    config, ["collector", "--listen", f"127.0.0.1:{collector_port}"], collector_port, tree=tree
                )
            )
            pids = {"collector": processes_[1].pid, "alerting": processes_[0].pid, "influxd": influxd._process.pid}

            def start_rules(at: float) -> None:
                time.sleep(max(0.0, at - time.time()))
                processes_.append(start_service(config, ["rules", "run"], rules_port, tree=tree))
                pids["rules"] = processes_[-1].pid

            if not rules_after:
                start_rules(0.0)
            interval = 10.0
            rounds = int(seconds // interval)
            began = time.time() + 1.0 + boxes * rounds / 200_000  # as run_fleet places round 0
            start_s = int(began - interval)  # each request carries the samples of the 10 s before it
            marks: dict[str, tuple[float, dict]] = {}
            cpu: dict[str, dict[str, float]] = {}
            if rules_after:  # a fleet already pushing when the engine starts (its cold start then)
                threading.Thread(target=start_rules, args=(began + rules_after,), daemon=True).start()

            def mark(name: str, at: float) -> None:
                time.sleep(max(0.0, at - time.time()))
                marks[name] = (time.time(), scrape(rules_port))
                cpu[name] = {process: cpu_seconds(pid) for process, pid in pids.items()} | {"machine": machine_cpu()}

            timer = threading.Thread(
                target=lambda: (mark("from", began + warm_up), mark("to", began + seconds)), daemon=True
            )
            timer.start()
            run = run_fleet(
                collector_port, tokens, seconds=seconds, interval_s=interval, start_s=start_s,
                processes=processes, connections=connections,
            )  # fmt: skip
            timer.join(timeout=seconds + 60)
            client = InfluxClient(InfluxSettings(url=influxd.url, database="fleet"))
            deadline = time.monotonic() + 60
            while client.count("telemetry", "soc_pct") < run.points_acked and time.monotonic() < deadline:
                time.sleep(0.2)
            stored = client.count("telemetry", "soc_pct")
        finally:
            for process in reversed(processes_):
                process.terminate()
                process.wait()
    (t0, before), (t1, after) = marks["from"], marks["to"]
    shares = {process: (cpu["to"][process] - cpu["from"][process]) / (t1 - t0) for process in cpu["to"]}
    rows = {key[1]: value - before.get(key, 0.0) for key, value in after.items() if key[0] == "rows"}
    return NodeOutcome(run, stored, group_figures(before, after, t1 - t0), shares, rows)


def report(outcome: NodeOutcome) -> None:
    run = outcome.run
    print(
        f"{run.boxes:,} boxes x {run.seconds:.0f}s: offered {run.offered:,} requests ({run.offered_rate:,.0f}/s), "
        f"accepted {run.accepted:,}; acknowledged points {run.points_acked:,}, stored {outcome.stored:,}: "
        f"loss {outcome.loss:,}"
    )
    print(
        f"ack latency from due time: p50 {run.percentile_ms(0.5):.1f} ms, p99 {run.percentile_ms(0.99):.1f} ms, "
        f"max {run.percentile_ms(1.0):.1f} ms (target p99 < {P99_TARGET_MS} ms)"
        + (" -- the generator FELL BEHIND" if run.generator_behind else "")
    )
    print(f"  {'group':<10} {'interval':>8} {'run/due':>9} {'mean eval':>10} {'slowest <=':>10} {'lag p99 <=':>10}")
    for g in outcome.groups:
        print(
            f"  {g.name:<10} {g.interval_s:>7}s {g.run:>4}/{g.due:<4.0f} {g.mean_s:>9.2f}s {g.max_bucket_s:>9.2f}s "
            f"{g.lag_p99_s:>9.2f}s {'' if g.on_time else ' LATE'}"
        )
    print(f"engine busy (sum of mean evaluation / interval): {outcome.busy:.2f}")
    print(
        "CPU (cores) over the span: "
        + ", ".join(f"{name} {share:.2f}" for name, share in outcome.cpu.items())
        + f" (of {os.cpu_count()})"
    )
    if outcome.rows:
        print("rows the rules read: " + ", ".join(f"{source} {rows:,.0f}" for source, rows in outcome.rows.items()))
    print(f"verdict: {'HOLDS' if outcome.holds else 'FAILED'}")


def search(low: int, high: int, *fleet: int) -> None:
    """Bisect the fleet size; ``fleet``: one_node's arguments after ``boxes``."""
    best = 0
    while high - low > max(500, low // 10):
        middle = (low + high) // 2 // 100 * 100
        print(f"-- trying {middle:,} boxes", flush=True)
        outcome = one_node(middle, *fleet)
        report(outcome)
        if outcome.holds:
            low, best = middle, middle
        else:
            high = middle
    print(f"largest fleet the whole node holds: {best:,} boxes (next failure at {high:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--warm-up", type=int, default=60, help="seconds left out of the group figures")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--collector-workers", type=int, default=1, help="collector.workers")
    parser.add_argument(
        "--rules-after", type=int, default=0, help="start the rules engine this many seconds after the fleet"
    )
    parser.add_argument("--search", action="store_true")
    parser.add_argument("--compare", type=Path, help="first run the node of this source tree (a same-run baseline)")
    parser.add_argument("--low", type=int, default=2000)
    parser.add_argument("--high", type=int, default=30000)
    args = parser.parse_args()
    if args.rules_after and args.warm_up < args.rules_after + 10:
        parser.error("--warm-up must end at least 10 s after --rules-after (the engine's start)")
    knobs = (args.seconds, args.warm_up, args.processes, args.connections, args.collector_workers, args.rules_after)
    if args.search:
        search(args.low, args.high, *knobs)
        return
    for boxes in args.boxes:
        fleet = (boxes, *knobs)
        if args.compare:
            print(f"-- baseline: the node of {args.compare}")
            base = one_node(*fleet, tree=args.compare)
            report(base)
            print("-- this tree")
        outcome = one_node(*fleet)
        report(outcome)
        if args.compare:
            ratio = base.busy / max(outcome.busy, 1e-9)
            print(f"same run: engine busy {base.busy:.2f} -> {outcome.busy:.2f} ({ratio:.2f}x less)")


if __name__ == "__main__":
    main()
