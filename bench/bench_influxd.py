"""Benchmark: influxd's own CPU under a fleet's write load, with the shipped settings against InfluxDB's.

A private influxd (storage/server.py) takes ``--series`` boxes' telemetry, one point of 5 fields per
box and second, written in batches of ``--batch`` lines as the collector's writer sends them, offered
on schedule for ``--seconds``. Its CPU (from /proc) over the span after a 10-s warm-up is printed
per run, for the shipped cache snapshot size and for InfluxDB's default (25 MB), alternated
``--rounds`` times in the same run, then the ratio.

    .venv/bin/python bench/bench_influxd.py [--series 30000] [--seconds 150] [--batch 6000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.http import HttpClient, HttpSettings  # noqa: E402
from storage.server import CACHE_SNAPSHOT_SIZE, InfluxServer  # noqa: E402

WARM_UP_S = 10
INFLUXDB_DEFAULT = "25m"


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(snapshot_size: str, series: int, seconds: int, batch: int) -> tuple[float, float, float]:
    """(influxd cores over the measured span, points offered per s, points written per s)."""
    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp), cache_snapshot_size=snapshot_size) as influxd:
        http = HttpClient(influxd.url, HttpSettings(timeout_s=60))
        http.request("POST", "/query", params={"q": "CREATE DATABASE fleet"})
        pid = influxd._process.pid
        first_s = int(time.time()) - seconds - 60  # inside the default policy, in the past
        written = 0
        started = time.monotonic()
        for second in range(seconds):
            if second == WARM_UP_S:
                cpu_before, measured_from, written_before = process_cpu_s(pid), time.monotonic(), written
            lines = [
                f"telemetry,jbox_id=jbox-{box:05d},region=IDF,service=fcr,site=site-{box // 5:04d} "
                f"p_meas_kw={100 + second % 7}.5,p_setpoint_kw=100.0,grid_freq_hz=50.01,soc_pct=50.5,"
                f"temp_max_c=30.25 {(first_s + second) * 10**9}"
                for box in range(series)
            ]
            for start in range(0, series, batch):
                http.request("POST", "/write", params={"db": "fleet"}, data="\n".join(lines[start : start + batch]))
                written += min(batch, series - start)
            due = started + second + 1  # the next second's points are due then, not earlier
            if time.monotonic() < due:
                time.sleep(due - time.monotonic())
        span = time.monotonic() - measured_from
        cores = (process_cpu_s(pid) - cpu_before) / span
        return cores, series * (seconds - WARM_UP_S) / span, (written - written_before) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=30_000, help="boxes, one point of 5 fields each per second")
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--batch", type=int, default=6_000, help="lines per write")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    shipped = CACHE_SNAPSHOT_SIZE
    totals = {INFLUXDB_DEFAULT: 0.0, shipped: 0.0}
    for _ in range(args.rounds):
        for size in (INFLUXDB_DEFAULT, shipped):
            cores, offered, achieved = one_run(size, args.series, args.seconds, args.batch)
            totals[size] += cores
            print(
                f"cache-snapshot-memory-size {size:>4}: influxd {cores:.2f} cores; "
                f"points offered {offered:,.0f}/s, written {achieved:,.0f}/s"
            )
    ratio = totals[INFLUXDB_DEFAULT] / max(totals[shipped], 1e-9)
    print(f"influxd CPU with InfluxDB's default / with the shipped {shipped}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
