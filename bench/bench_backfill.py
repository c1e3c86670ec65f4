"""Benchmark: simulator backfill throughput against raw InfluxDB ingestion, on a private influxd.

(a) baseline: the same scenario's line protocol, built beforehand, POSTed in batches of 5000 by
    one InfluxClient (gzip on) — what InfluxDB ingests when generation costs nothing;
(b) ``run_backfill``: generation + encoding + 2 writer threads, as ``jboxmon simulate --backfill``.

    .venv/bin/python bench/bench_backfill.py [--boxes 1000] [--hours 1] [--interval 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime

from config.model import InfluxDBConfig
from simulator.backfill import run_backfill
from simulator.engine import FleetSimulator
from simulator.lineprotocol import LineEncoder
from simulator.scenario import build_scenario
from simulator.window import SimWindow
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer


def prebuilt_lines(scenario) -> tuple[list[str], list[str]]:
    """(raw lines, log lines) of the whole scenario."""
    encoder, raw, logs = LineEncoder(scenario.fleet), [], []
    for step in FleetSimulator(scenario).steps():
        raw += encoder.telemetry(step) + encoder.heartbeats(step.heartbeats)
        logs += encoder.logs(step.logs)
    return raw, logs


def fresh_client(server: InfluxServer, name: str) -> tuple[InfluxClient, InfluxDBConfig]:
    config = InfluxDBConfig(url=server.url, database=name)
    client = InfluxClient(InfluxSettings.from_config(config))
    client.create_database()
    return client, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    # Recent window: the logs retention policy keeps one day.
    window = SimWindow.ending_at_hour(datetime.now(UTC), args.hours * 3600, args.interval)
    scenario = build_scenario(boxes=args.boxes, seed=args.seed, window=window)

    started = time.perf_counter()
    raw, logs = prebuilt_lines(scenario)
    build_s = time.perf_counter() - started
    points = len(raw) + len(logs)
    print(
        f"scenario: {args.boxes} boxes x {args.hours:g} h at {args.interval:g}s -> {points:,} points "
        f"(generation + encoding alone: {build_s:.2f}s, {points / build_s:,.0f} points/s)"
    )

    with tempfile.TemporaryDirectory() as data_dir, InfluxServer(data_dir) as server:
        client, _ = fresh_client(server, "bench_raw")
        started = time.perf_counter()
        client.write_batches(raw, batch_size=5000, precision="ms")
        client.write_batches(logs, batch_size=5000, precision="ms", retention_policy="logs")
        raw_s = time.perf_counter() - started
        raw_rate = points / raw_s
        print(
            f"(a) raw ingestion, prebuilt lines, 1 client, batches of 5000: {points:,} points "
            f"in {raw_s:.2f}s = {raw_rate:,.0f} points/s"
        )

        _, config = fresh_client(server, "bench_sim")
        report = run_backfill(scenario, lambda: InfluxClient(InfluxSettings.from_config(config)))
        print(
            f"(b) simulator backfill (generate + encode + 2 writers): {report.total:,} points "
            f"in {report.seconds:.2f}s = {report.points_per_s:,.0f} points/s"
        )
        print(report.render())
        print(f"ratio backfill / raw ingestion: {report.points_per_s / raw_rate:.2f}")


if __name__ == "__main__":
    main()
