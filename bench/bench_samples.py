"""Benchmark: the power rule's raw read, 20 s of 1-s samples for a fleet, three ways, same run.

(a) baseline, the read before: ``GROUP BY "jbox_id"`` (one series per box), decoded from JSON;
(b) one series with the box as a column, JSON;
(c) one series, CSV decoded by pandas' parser (``InfluxClient.query_samples``), what the rules read.
Prints best and median of ``--repeat`` reads and each way's ratio to (a).

    .venv/bin/python bench/bench_samples.py [--boxes 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer

NS = 1_000_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        client = InfluxClient(InfluxSettings(url=influxd.url, database="bench", timeout_s=120))
        client.create_database()
        now = int(time.time()) // 10 * 10
        rng = np.random.default_rng(1)
        for second in range(now - 30, now):
            measured = rng.normal(100, 5, args.boxes)
            client.write_batches(
                [
                    f"telemetry,jbox_id=jbox-{i:05d},region=R{i % 5} p_meas_kw={measured[i]:.3f},"
                    f"p_setpoint_kw=100.0,soc_pct=50.1 {second * NS}"
                    for i in range(args.boxes)
                ],
                batch_size=10_000,
            )
        span = f"time >= {(now - 20) * NS} AND time < {now * NS}"
        grouped = f'SELECT "p_meas_kw" AS f, "p_setpoint_kw" AS r FROM "telemetry" WHERE {span} GROUP BY "jbox_id"'
        flat = f'SELECT "p_meas_kw" AS f, "p_setpoint_kw" AS r, "jbox_id" FROM "telemetry" WHERE {span}'
        ways = {
            "(a) GROUP BY box, JSON (baseline)": lambda: client.query(grouped),
            "(b) one series, JSON": lambda: client.query(flat),
            "(c) one series, CSV (query_samples)": lambda: client.query_samples(flat),
        }
        print(f"{args.boxes:,} boxes x 20 s of 1-s samples, {args.repeat} reads each")
        base = None
        for name, read in ways.items():
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                rows = len(read())
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            base = base or median
            print(f"  {name:38s} best {min(times):.3f} s  median {median:.3f} s  rows {rows:,}  {median / base:.2f}x")


if __name__ == "__main__":
    main()
