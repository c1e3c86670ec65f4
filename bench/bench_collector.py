"""Benchmark: the collector end to end against raw InfluxDB ingestion, measured in the same run.

(a) baseline: N telemetry points POSTed straight to a private influxd's /write in batches of
    5,000, by C concurrent clients;
(b) the same points POSTed by C concurrent clients (one box token each) to the collector's
    /write, timed until every point is acknowledged AND counted back in InfluxDB.

``--gateway``: the same, but as a site gateway pushes: one gateway token for a site of
``--series`` boxes (10,000 by default), every batch mixing lines of all of them.

The collector runs as its own process (``jboxmon collector``) so client threads do not share its GIL.

    .venv/bin/python bench/bench_collector.py [--points 400000] [--clients 4] [--batch 5000]
    .venv/bin/python bench/bench_collector.py --gateway [--series 10000] [--workers 2]
    .venv/bin/python bench/bench_collector.py --compare TREE   # CPU per point against another tree, same run
    .venv/bin/python bench/bench_collector.py --profile FILE   # py-spy this tree's collector, see profile_top.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests
from common import child_pids, jboxmon_cli, start_collector, start_profiler, tree_options

from inventory import Box, Registry
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer, free_port


def build_batches(points: int, clients: int, batch: int, start_ns: int) -> list[list[bytes]]:
    """Per client: batches of line protocol for its own box, uniquely timestamped."""
    per_client = points // clients
    batches: list[list[bytes]] = []
    for client in range(clients):
        box = f"jbox-{client:04d}"
        tags = f"telemetry,jbox_id={box},region=IDF,service=fcr,site=site-{client:03d}"
        lines = [
            f"{tags} p_meas_kw={i % 997}.5,p_setpoint_kw={i % 991}.0,grid_freq_hz=50.01,soc_pct=51.2,temp_max_c=31.5 "
            f"{start_ns + i * 1_000_000}"
            for i in range(per_client)
        ]
        batches.append(["\n".join(lines[i : i + batch]).encode() for i in range(0, per_client, batch)])
    return batches


def build_gateway_batches(points: int, clients: int, batch: int, series: int, start_ns: int) -> list[list[bytes]]:
    """Per client: batches of line protocol mixing ``series`` boxes of one site, uniquely timestamped.
    The lines carry the tags the collector stores (from the registry), so both runs write the same series."""
    per_client = points // clients
    batches: list[list[bytes]] = []
    for client in range(clients):
        lines = [
            f"telemetry,jbox_id=jbox-{(client * per_client + i) % series:05d},region=IDF,service=fcr,site=site-gw "
            f"p_meas_kw={i % 997}.5,"
            f"p_setpoint_kw={i % 991}.0,grid_freq_hz=50.01,soc_pct=51.2,temp_max_c=31.5 "
            f"{start_ns + (client * per_client + i) // series * 1_000_000_000 + client}"
            for i in range(per_client)
        ]
        batches.append(["\n".join(lines[i : i + batch]).encode() for i in range(0, per_client, batch)])
    return batches


def gateway_tokens(registry_path: str, series: int, clients: int) -> list[str]:
    """``series`` boxes at one site and a site gateway for it; its token for every client."""
    with Registry(registry_path) as registry:
        registry.issue_many([Box(f"jbox-{i:05d}", "site-gw", "IDF", "fcr") for i in range(series)])
        return [registry.issue_gateway("gw-bench", site="site-gw")] * clients


def post_all(url: str, batches: list[list[bytes]], tokens: list[str] | None) -> float:
    errors: list[str] = []

    def run(index: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Token {tokens[index]}"} if tokens else {}
        for body in batches[index]:
            while True:
                response = session.post(url, data=body, headers=headers, timeout=60)
                if response.status_code in (429, 503):
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code != 204:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                break

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"write errors: {errors[:3]}")
    return time.perf_counter() - started


def wait_written(url: str, expected: int, workers: int, timeout_s: float = 300) -> None:
    """Until the collector says it wrote ``expected`` points: its counter costs InfluxDB nothing,
    where a count() query every few milliseconds over 10,000 series would steal influxd's CPU from
    the very writes being timed. With several workers (a counter each) poll every worker's answer."""
    session = requests.Session()
    deadline = time.monotonic() + timeout_s
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        for _ in range(workers * 4):  # new connections land on any worker
            text = session.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"}).text
            match = re.search(r"^jboxmon_collector_points_written_total ([0-9.e+]+)$", text, re.M)
            pid = re.search(r"^process_start_time_seconds ([0-9.e+]+)$", text, re.M)
            if match:
                seen[pid.group(1) if pid else "one"] = float(match.group(1))
        if sum(seen.values()) >= expected:
            return
        time.sleep(0.02)
    raise SystemExit(f"the collector wrote only {sum(seen.values()):,.0f} of {expected:,} points")


def wait_count(client: InfluxClient, expected: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.count("telemetry", "soc_pct") >= expected:
            return
        time.sleep(0.05)
    raise SystemExit(f"only {client.count('telemetry', 'soc_pct')} of {expected} points arrived")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=400_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--gzip", default="false", help="collector to InfluxDB gzip (default false: loopback)")
    parser.add_argument("--gateway", action="store_true", help="one site-gateway token writing for --series boxes")
    parser.add_argument("--series", type=int, default=10_000, help="boxes behind the gateway (--gateway)")
    parser.add_argument("--workers", type=int, default=1, help="collector.workers")
    parser.add_argument("--batch-lines", type=int, default=0, help="collector.batch_lines (default: the config's)")
    parser.add_argument("--compare", type=Path, help="first run the collector of this source tree (not with --gateway)")
    parser.add_argument("--profile", type=Path, help="py-spy this tree's collector into this file (collapsed stacks)")
    args = parser.parse_args()
    start_ns = int(time.time() - 3 * 3600) * 10**9
    if args.gateway:
        batches = build_gateway_batches(args.points, args.clients, args.batch, args.series, start_ns)
    else:
        batches = build_batches(args.points, args.clients, args.batch, start_ns)
    total = sum(body.count(b"\n") + 1 for per in batches for body in per)

    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        direct = InfluxClient(InfluxSettings(url=influxd.url, database="direct"))
        direct.create_database()
        baseline_s = post_all(f"{influxd.url}/write?db=direct", batches, None)
        wait_count(direct, total)
        print(f"raw InfluxDB /write: {total:,} points in {baseline_s:.2f}s = {total / baseline_s:,.0f} points/s")

        runs = [("baseline " + str(args.compare), args.compare)] if args.compare else []
        results = {}
        for name, tree in [*runs, ("this tree", None)]:
            ack_s, end_to_end_s, cpu_s = through_collector(Path(tmp), influxd.url, batches, total, args, tree)
            results[name] = cpu_s
            print(f"-- {name}: collector acknowledged all in {ack_s:.2f}s = {total / ack_s:,.0f} points/s")
            print(
                f"collector end to end (acked and in InfluxDB): {end_to_end_s:.2f}s = "
                f"{total / end_to_end_s:,.0f} points/s; collector CPU {1000 * cpu_s / total:.4f}s per 1,000 points"
            )
            print(f"ratio collector / raw InfluxDB: {baseline_s / end_to_end_s:.2f}x (target >= 0.8x)")
        if args.compare:
            ratio = results[runs[0][0]] / results["this tree"]
            print(f"same run: collector CPU per point {ratio:.2f}x less than the baseline")


def through_collector(
    tmp: Path, influx_url: str, batches: list[list[bytes]], total: int, args, tree: Path | None
) -> tuple[float, float, float]:
    """(seconds to acknowledge all, seconds until all are in InfluxDB, collector CPU seconds)."""
    database = f"via_{'base' if tree else 'collector'}"
    work = tmp / database
    work.mkdir()
    config = work / "jboxmon.yaml"
    config.write_text(
        f"influxdb:\n  url: {influx_url}\n  database: {database}\n  gzip: {args.gzip}\n"
        f"inventory:\n  path: {work}/registry.sqlite\ncollector:\n  spool_dir: {work}/spool\n"
        f"  rate_limit: {{points_per_s: 10000000, burst_points: 10000000}}\n"
        + (f"  batch_lines: {args.batch_lines}\n" if args.batch_lines else "")
        + (f"  workers: {args.workers}\n" if args.workers > 1 else "")
    )
    if args.gateway:
        tokens = gateway_tokens(f"{work}/registry.sqlite", args.series, args.clients)
    else:
        boxes = [f"jbox-{i:04d}" for i in range(args.clients)]
        issued = subprocess.run(
            [*jboxmon_cli(config), "tokens", "issue", *boxes, "--json"],
            capture_output=True,
            text=True,
            check=True,
            **tree_options(tree),
        )
        tokens = [json.loads(issued.stdout)[box] for box in boxes]
    port = free_port()
    collector = start_collector(config, port, tree=tree)
    profiler = start_profiler(collector.pid, 3600, args.profile) if args.profile and tree is None else None
    try:
        via = InfluxClient(InfluxSettings(url=influx_url, database=database))
        cpu_before = process_tree_cpu(collector.pid)
        started = time.perf_counter()
        ack_s = post_all(f"http://127.0.0.1:{port}/write", batches, tokens)
        wait_written(f"http://127.0.0.1:{port}", total, args.workers)
        end_to_end_s = time.perf_counter() - started
        wait_count(via, total)  # and InfluxDB has them all
        cpu_s = process_tree_cpu(collector.pid) - cpu_before
    finally:
        if profiler is not None:  # stopped first: a traced collector may miss its SIGTERM
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        collector.terminate()
        collector.wait()
    return ack_s, end_to_end_s, cpu_s


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (collector workers), from /proc."""
    pids = [pid, *child_pids(pid)]
    total = 0.0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


if __name__ == "__main__":
    main()
