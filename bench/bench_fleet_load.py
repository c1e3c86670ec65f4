"""Benchmark: a fleet pushing through the collector in real time, load offered on schedule.

Each box samples once per second and sends its 10 samples as one payload-v2 request every 10 s
(10,000 boxes: 1,000 requests/s, 10,000 points/s), for two minutes; ``--interval 1`` makes every
box send each sample at once (10,000 boxes: 10,000 requests/s); ``--payload lp`` sends the samples as
line protocol to ``/write`` with the box's token instead (as a Telegraf per box would). The generator (bench/loadgen.py)
runs in processes of its own and measures each request's latency from the moment it was DUE, so a
collector that falls behind is charged for the queue it causes. Printed: offered and achieved
request rates, loss (acknowledged points counted back in InfluxDB), latency percentiles from the
due time, CPU per 1,000 points of the collector and of influxd, and, as the same-run baseline, the
CPU influxd spends on the same points written to it directly in batches of 5,000. The run is
marked FAILED when the generator itself fell behind its schedule.

``--compare TREE`` first runs the same fleet against the collector of another source tree (say
``git archive main | tar -x -C /tmp/base``) and prints the ratios of the two runs.

``--search`` looks for the largest fleet that holds p99 < 250 ms with no loss (bisection over
shorter runs, each on a fresh collector and InfluxDB).

    .venv/bin/python bench/bench_fleet_load.py [--boxes 10000] [--seconds 120] [--workers N]
    .venv/bin/python bench/bench_fleet_load.py --boxes 5000 --seconds 60 --compare /tmp/base
    .venv/bin/python bench/bench_fleet_load.py --search [--low 2000] [--high 40000] [--seconds 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import child_pids, start_collector, start_profiler, tree_options
from loadgen import FleetRun, run_fleet

from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer, free_port

TICK_HZ = os.sysconf("SC_CLK_TCK")
P99_TARGET_MS = 250


def cpu_seconds(pid: int, part: str = "both") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]) / TICK_HZ, int(fields[12]) / TICK_HZ
    return {"user": user, "system": system, "both": user + system}[part]


def process_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids if Path(f"/proc/{pid}").exists())


def collector_pids(collector) -> list[int]:
    """The collector process and its workers (``collector.workers`` > 1 forks children)."""
    return [collector.pid, *child_pids(collector.pid)]


@dataclass
class Outcome:
    run: FleetRun
    stored: int
    collector_cpu: float
    influx_cpu: float
    direct_cpu: float

    @property
    def loss(self) -> int:
        return self.run.points_acked - self.stored

    @property
    def holds(self) -> bool:
        run = self.run
        return (
            not run.generator_behind
            and run.errors == 0
            and run.answered == run.offered
            and run.accepted == run.offered
            and self.loss == 0
            and run.percentile_ms(0.99) < P99_TARGET_MS
        )


_ISSUE = """
import json, sys
from inventory import Box, Registry
path, boxes = sys.argv[1], int(sys.argv[2])
with Registry(path) as registry:
    fleet = [Box(f"jbox-{i:05d}", f"site-{i // 5:04d}", "IDF", "fcr") for i in range(boxes)]
    print(json.dumps(registry.issue_many(fleet)))
"""


def issue_fleet(path: str, boxes: int, tree: Path | None) -> dict[str, str]:
    """Register the fleet with the registry code of the tree under test (its schema version)."""
    done = subprocess.run(
        [sys.executable, "-c", _ISSUE, path, str(boxes)],
        capture_output=True,
        text=True,
        check=True,
        **tree_options(tree),
    )
    return json.loads(done.stdout)


def one_fleet(
    boxes: int,
    seconds: int,
    workers: int,
    processes: int,
    connections: int,
    profile: Path | None = None,
    tree: Path | None = None,
    interval_s: float = 10.0,
    payload: str = "v2",
) -> Outcome:
    """A fresh InfluxDB and collector, ``boxes`` boxes pushing on schedule for ``seconds``."""
    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        config = Path(tmp) / "jboxmon.yaml"
        config.write_text(
            f"influxdb:\n  url: {influxd.url}\n  database: fleet\n  gzip: false\n"
            f"inventory:\n  path: {tmp}/registry.sqlite\ncollector:\n  spool_dir: {tmp}/spool\n"
            + (f"  workers: {workers}\n" if workers > 1 else "")
        )
        tokens = issue_fleet(f"{tmp}/registry.sqlite", boxes, tree)
        port = free_port()
        collector = start_collector(config, port, tree=tree)
        influx_pid = influxd._process.pid
        try:
            start_s = int(time.time()) - seconds - 60
            pids = collector_pids(collector)
            cpu0 = process_cpu(pids), cpu_seconds(influx_pid)
            profiler = start_profiler(pids[-1], seconds, profile) if profile else None
            run = run_fleet(
                port,
                tokens,
                seconds=seconds,
                interval_s=interval_s,
                start_s=start_s,
                processes=processes,
                connections=connections,
                payload=payload,
            )
            client = InfluxClient(InfluxSettings(url=influxd.url, database="fleet"))
            deadline = time.monotonic() + 60
            while client.count("telemetry", "soc_pct") < run.points_acked and time.monotonic() < deadline:
                time.sleep(0.2)
            stored = client.count("telemetry", "soc_pct")
            cpu1 = process_cpu(pids), cpu_seconds(influx_pid)
            if profiler is not None:
                profiler.wait(timeout=60)
        finally:
            collector.terminate()
            collector.wait()

        # baseline in the same run: influxd's CPU for the same number of points written directly
        direct = InfluxClient(InfluxSettings(url=influxd.url, database="direct", gzip=False))
        direct.create_database()
        lines = [
            f"telemetry,jbox_id=jbox-{i % boxes:05d},region=IDF,service=fcr,site=site-{i % boxes // 5:04d} "
            f"p_meas_kw=100.0,p_setpoint_kw=100.0,grid_freq_hz=50.0,soc_pct=50.0,temp_max_c=30.0 "
            f"{(start_s + i // boxes) * 10**9}"
            for i in range(run.points_acked)
        ]
        cpu_before = cpu_seconds(influx_pid)
        direct.write_batches(lines, batch_size=5000)
        direct_cpu = cpu_seconds(influx_pid) - cpu_before
    return Outcome(run, stored, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], direct_cpu)


def report(outcome: Outcome) -> None:
    run = outcome.run
    points = max(run.points_acked, 1)
    per_k = lambda cpu: 1000 * cpu / points  # noqa: E731
    print(
        f"{run.boxes:,} boxes x {run.seconds:.0f}s: offered {run.offered:,} requests "
        f"({run.offered_rate:,.0f}/s), answered {run.answered:,}, accepted at {run.achieved_rate:,.0f}/s; "
        f"statuses {dict(sorted(run.statuses.items()))}, connection errors {run.errors}"
    )
    print(f"acknowledged points {run.points_acked:,}, stored {outcome.stored:,}: loss {outcome.loss:,}")
    print(
        f"latency from due time: p50 {run.percentile_ms(0.5):.1f} ms, p99 {run.percentile_ms(0.99):.1f} ms, "
        f"max {run.percentile_ms(1.0):.1f} ms (target p99 < {P99_TARGET_MS} ms)"
    )
    behind = " -- FELL BEHIND: this run measured nothing" if run.generator_behind else ""
    print(
        f"generator: hand-over lag p99 {np.percentile(run.lags, 99) * 1000:.1f} ms, "
        f"max {run.lags.max() * 1000:.1f} ms{behind}"
    )
    ratio = (outcome.collector_cpu + outcome.influx_cpu) / max(outcome.direct_cpu, 1e-9)
    print(
        f"CPU per 1,000 points: collector {per_k(outcome.collector_cpu):.3f}s, "
        f"influxd {per_k(outcome.influx_cpu):.3f}s; influxd written directly in batches of 5,000: "
        f"{per_k(outcome.direct_cpu):.3f}s (ratio collector+influxd / direct: {ratio:.1f}x)"
    )
    print(f"verdict: {'HOLDS' if outcome.holds else 'FAILED'}")


def compare(base: Outcome, new: Outcome) -> None:
    """Same-run ratios: collector CPU per point, and latency, baseline over this tree."""
    per_point = lambda outcome: outcome.collector_cpu / max(outcome.run.points_acked, 1)  # noqa: E731
    print(
        f"same run: collector CPU per point {per_point(base) / per_point(new):.2f}x less than the baseline; "
        f"p99 {base.run.percentile_ms(0.99):.0f} ms -> {new.run.percentile_ms(0.99):.0f} ms"
    )


def search(low: int, high: int, seconds: int, workers: int, processes: int, connections: int) -> None:
    """Bisection for the largest fleet that holds; ``low`` must hold and ``high`` need not."""
    best = 0
    while high - low > max(500, low // 10):
        middle = (low + high) // 2 // 100 * 100
        print(f"-- trying {middle:,} boxes", flush=True)
        outcome = one_fleet(middle, seconds, workers, processes, connections)
        report(outcome)
        if outcome.holds:
            low, best = middle, middle
        else:
            high = middle
    print(f"largest fleet holding p99 < {P99_TARGET_MS} ms with no loss: {best:,} boxes (next failure at {high:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--workers", type=int, default=1, help="collector.workers")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=256, help="keep-alive connections, all processes")
    parser.add_argument("--search", action="store_true", help="find the largest fleet that holds")
    parser.add_argument("--compare", type=Path, help="first run the collector of this source tree (baseline)")
    parser.add_argument("--profile", type=Path, help="py-spy the collector (a worker) into this file (collapsed)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between a box's requests (1 sample/s)")
    parser.add_argument("--payload", choices=("v2", "lp"), default="v2", help="JSON v2, or line protocol to /write")
    parser.add_argument("--low", type=int, default=2000)
    parser.add_argument("--high", type=int, default=40000)
    args = parser.parse_args()
    if args.search:
        search(args.low, args.high, args.seconds, args.workers, args.processes, args.connections)
    else:
        fleet = (args.boxes, args.seconds, args.workers, args.processes, args.connections)
        if args.compare:
            print(f"-- baseline: the collector of {args.compare}")
            base = one_fleet(*fleet, tree=args.compare, interval_s=args.interval, payload=args.payload)
            report(base)
            print("-- this tree")
        outcome = one_fleet(*fleet, profile=args.profile, interval_s=args.interval, payload=args.payload)
        report(outcome)
        if args.compare:
            compare(base, outcome)


if __name__ == "__main__":
    main()
