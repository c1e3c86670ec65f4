"""Benchmark: big jobs finish on a busy machine, with default settings (``influxdb.timeout`` 10 s).

Two CPU-bound processes (``python -c 'while 1: pass'``) run beside everything measured here, on a
private influxd:
(a) the README's 1,000-box backtest: ``jboxmon simulate --boxes 1000 --backfill 1h --seed 7``, then
    ``jboxmon rules backtest --rules rules/default/jbox.yaml`` over that hour (rule queries in box
    batches, a query InfluxDB is too slow for halved); baseline in the same run: the same replay with
    every rule query asked whole, as before (``--whole``: it may die of a read timeout);
(b) a retention pass (``jboxmon retention run``, default config) over 30 h of a 300-box fleet placed
    5 to 6.25 days back, so the pass downsamples (1m, 1h), rolls usage up, and archives, verifies and
    prunes all of it; baseline: the bare InfluxQL export of the same telemetry, hour by hour.

    .venv/bin/python bench/bench_big_jobs.py [--boxes 1000] [--fleet 300] [--hours 30] [--hogs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import jboxmon_cli

from inventory import Box
from rules.backtest.replay import replay
from rules.loader import load_rules
from storage import InfluxClient, InfluxError, InfluxSettings
from storage.server import InfluxServer

NS = 1_000_000_000
HOUR = 3600 * NS
RULES = Path(__file__).resolve().parent.parent / "rules" / "default" / "jbox.yaml"


def hogs(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]


def timed(argv: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - t0, done.returncode, (done.stderr.strip().splitlines() or [""])[-1]


def whole_replay(url: str, database: str, start: int, end: int) -> tuple[float, str]:
    """The backtest's replay with every rule query asked whole (the former reader), default timeout."""
    client = InfluxClient(InfluxSettings(url=url, database=database))
    frame = client.query('SHOW TAG VALUES FROM "telemetry" WITH KEY = "jbox_id"')
    inventory = [Box(jbox_id) for jbox_id in frame["value"]]
    t0 = time.perf_counter()
    try:
        replay(load_rules([RULES]), client.query, inventory, start, end)
        outcome = "completed"
    except InfluxError as exc:
        outcome = f"FAILED: {exc}"
    return time.perf_counter() - t0, outcome


def bare_export(url: str, database: str, start: int, hours: int) -> tuple[float, int]:
    client = InfluxClient(InfluxSettings(url=url, database=database, timeout_s=600))
    rows, t0 = 0, time.perf_counter()
    for hour in range(start, start + hours * HOUR, HOUR):
        results = client.query_raw(
            f'SELECT * FROM "raw"."telemetry" WHERE time >= {hour} AND time < {hour + HOUR} GROUP BY *'
        )
        rows += sum(len(s["values"]) for s in results[0].get("series", []))
    return time.perf_counter() - t0, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=1000, help="backtest fleet")
    parser.add_argument("--fleet", type=int, default=300, help="retention pass fleet")
    parser.add_argument("--hours", type=int, default=30, help="retention pass history")
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the jobs")
    parser.add_argument("--skip", choices=("backtest", "retention"), default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        config = Path(tmp) / "jboxmon.yaml"
        config.write_text(
            f"influxdb:\n  url: {influxd.url}\n  database: bench\n"
            f"inventory:\n  path: {tmp}/registry.sqlite\n"
            f"retention:\n  archive: {{url: 'file://{tmp}/archive'}}\n  state_dir: {tmp}/state\n"
        )
        cli = jboxmon_cli(config)
        subprocess.run([*cli, "db", "init"], check=True, stdout=subprocess.DEVNULL)

        if args.skip != "backtest":
            start_s = (int(time.time()) // 3600 - 2) * 3600
            iso = datetime.fromtimestamp(start_s, UTC).isoformat()
            end_iso = datetime.fromtimestamp(start_s + 3600, UTC).isoformat()
            t0 = time.perf_counter()
            subprocess.run(
                [
                    *cli,
                    "simulate",
                    "--boxes",
                    str(args.boxes),
                    "--backfill",
                    "1h",
                    "--seed",
                    "7",
                    "--start",
                    iso,
                    "--truth",
                    f"{tmp}/truth.jsonl",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"backfill: {args.boxes} boxes x 1 h in {time.perf_counter() - t0:.0f} s")
            running = hogs(args.hogs)
            try:
                split_s, code, last = timed(
                    [
                        *cli,
                        "rules",
                        "backtest",
                        "--rules",
                        str(RULES),
                        "--from",
                        iso,
                        "--to",
                        end_iso,
                        "--truth",
                        f"{tmp}/truth.jsonl",
                        "--inventory",
                        "data",
                    ]
                )
                whole_s, outcome = whole_replay(influxd.url, "bench", start_s * NS, (start_s + 3600) * NS)
            finally:
                for hog in running:
                    hog.kill()
                    hog.wait()
            state = "completed" if code == 0 else f"FAILED (exit {code}): {last}"
            print(f"(a) backtest, {args.boxes} boxes x 1 h, {args.hogs} CPU hogs: {state} in {split_s:.1f} s")
            print(f"    baseline, every rule query whole (replay only): {outcome} in {whole_s:.1f} s")
            if code == 0 and outcome == "completed":
                print(f"    ratio: {split_s / whole_s:.2f}x the whole-query replay's time (the command also loads)")

        if args.skip != "retention":
            start_s = (int(time.time()) // 3600 - 150) * 3600  # 6.25 days back: older than the 5 d age
            iso = datetime.fromtimestamp(start_s, UTC).isoformat()
            t0 = time.perf_counter()
            subprocess.run(
                [
                    *cli,
                    "simulate",
                    "--boxes",
                    str(args.fleet),
                    "--backfill",
                    f"{args.hours}h",
                    "--seed",
                    "3",
                    "--start",
                    iso,
                    "--truth",
                    f"{tmp}/truth2.jsonl",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"backfill: {args.fleet} boxes x {args.hours} h in {time.perf_counter() - t0:.0f} s")
            running = hogs(args.hogs)
            try:  # the baseline first: the pass prunes what it exports
                base_s, rows = bare_export(influxd.url, "bench", start_s * NS, args.hours)
                pass_s, code, last = timed([*cli, "retention", "run", "--no-progress"])
                out = subprocess.run([*cli, "retention", "run", "--dry-run"], capture_output=True, text=True)
            finally:
                for hog in running:
                    hog.kill()
                    hog.wait()
            state = "completed" if code == 0 else f"FAILED (exit {code})"
            print(
                f"(b) retention pass, {args.fleet} boxes x {args.hours} h, {args.hogs} CPU hogs: {state} in "
                f"{pass_s:.1f} s: {last}"
            )
            after = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr.strip()
            print(f"    a dry run after it: {after}")
            print(f"    baseline, bare InfluxQL export of the same {rows:,} telemetry rows: {base_s:.1f} s")
            if code == 0:
                print(f"    ratio: the whole pass took {pass_s / base_s:.2f}x the bare export of its telemetry")


if __name__ == "__main__":
    main()
