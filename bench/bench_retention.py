"""Benchmark: a retention pass against the bare InfluxQL export of the same rows, in the same run.

On a private influxd with simulated fleet history (``jboxmon simulate --backfill``, two days old):
(a) baseline: ``SELECT * ... GROUP BY *`` per hour over InfluxDB's HTTP API, JSON decoded: the least an
    export must do; rows/s;
(b) archive: the same hours exported, written as Parquet (zstd), read back and verified, manifest
    saved (no delete); rows/s and the ratio to (a) (target >= 0.6x);
(c) size: the Parquet bytes against the same rows as line protocol (target >= 10x smaller);
(d) the collector's ack latency (p50/p99 of small /write requests at a steady rate) while a full
    retention pass (archive, verify, prune) runs as ``jboxmon run`` runs it (a niced child process),
    against the same load without it.

    .venv/bin/python bench/bench_retention.py [--boxes 300] [--hours 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests
from common import jboxmon_cli, start_collector

from config import load_config
from config.retention import DataRetentionConfig
from jboxmon.retention_component import run_pass
from retention.archive import Layout, encode, export, to_lines
from retention.manifest import DayManifest, Entry, day_of, file_path
from retention.store import ArchiveStore, StoreSettings
from retention.verify import sha256, verify
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer, free_port

NS = 1_000_000_000
HOUR = 3600 * NS


def baseline_export(influx: InfluxClient, hours: list[int]) -> int:
    rows = 0
    for hour in hours:
        results = influx.query_raw(
            f'SELECT * FROM "raw"."telemetry" WHERE time >= {hour} AND time < {hour + HOUR} GROUP BY *'
        )
        rows += sum(len(s["values"]) for s in results[0].get("series", []))
    return rows


def archive_only(influx: InfluxClient, store: ArchiveStore, hours: list[int]) -> tuple[int, int]:
    """Export, Parquet, write, read back + verify, manifest: the archive stage without the delete."""
    rows = size = 0
    layout = Layout.read(influx, "raw", "telemetry")
    for hour in hours:
        table = export(influx, layout, "raw", hour, hour + HOUR)
        data = encode(table)
        path = file_path("telemetry", "raw", "all", hour, 0)
        checksum = sha256(data)
        store.write_bytes(path, data)
        verify(store, path, table, checksum)
        manifest = DayManifest.load(store, "telemetry", day_of(hour))
        manifest.put(
            Entry(path, "raw", "all", "", 0, hour, hour + HOUR, table.num_rows, len(data), hour, hour, checksum, 1)
        )
        manifest.save(store)
        rows += table.num_rows
        size += len(data)
    return rows, size


def line_protocol_bytes(store: ArchiveStore) -> int:
    from retention.archive import decode

    return sum(
        sum(len(line) + 1 for line in to_lines(decode(store.read_bytes(path))))
        for path in store.glob("telemetry/date=*/hour=*/*.parquet")
    )


class AckProbe:
    """Small /write requests (one box, 10 points) at a steady rate; records each ack latency."""

    def __init__(self, url: str, token: str, rate_per_s: float = 20.0) -> None:
        self.url, self.token, self.period = url, token, 1.0 / rate_per_s
        self.latencies: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Token {self.token}"}
        n = 0
        while not self._stop.is_set():
            now_ns = time.time_ns()
            body = "\n".join(f"telemetry p_meas_kw={n + i}.5,soc_pct=50.0 {now_ns + i}" for i in range(10))
            started = time.perf_counter()
            response = session.post(self.url, data=body, headers=headers, timeout=30)
            self.latencies.append((time.monotonic(), time.perf_counter() - started))
            if response.status_code != 204:
                raise SystemExit(f"collector answered {response.status_code}: {response.text[:200]}")
            n += 10
            self._stop.wait(max(0.0, self.period - (time.perf_counter() - started)))

    def start(self) -> AckProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> np.ndarray:
        return np.array([lat for at, lat in self.latencies if start <= at <= end]) * 1000


def retention_config(tmp: str) -> DataRetentionConfig:
    policies = [
        {"measurement": "telemetry", "age": "1d"},
        {"measurement": "heartbeat", "age": "1d"},
        {"measurement": "log", "retention_policy": "logs", "age": "1d"},
    ]
    return DataRetentionConfig.model_validate(
        {
            "archive": {"url": f"file://{tmp}/archive"},
            "state_dir": f"{tmp}/state",
            "downsample": [],
            "usage": {"enabled": False},
            "policies": policies,
        }
    )


def pass_in_child(config) -> object:
    """A full pass as ``jboxmon run`` schedules it: a spawned, niced child process."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=run_pass, args=(config, send))
    child.start()
    send.close()
    kind, value = receive.recv()
    child.join()
    if kind != "ok":
        raise SystemExit(f"retention pass failed: {value}")
    return value


def describe(latencies_ms: np.ndarray) -> str:
    p50, p99 = np.percentile(latencies_ms, 50), np.percentile(latencies_ms, 99)
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(latencies_ms)} requests)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=300)
    parser.add_argument("--hours", type=int, default=4)
    args = parser.parse_args()
    start_s = (int(time.time()) // 3600 - 48) * 3600
    hours = [start_s * NS + i * HOUR for i in range(args.hours)]

    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        config = Path(tmp) / "jboxmon.yaml"
        config.write_text(
            f"influxdb:\n  url: {influxd.url}\n  database: bench\n  gzip: false\n"
            f"inventory:\n  path: {tmp}/registry.sqlite\ncollector:\n  spool_dir: {tmp}/spool\n"
            f"retention:\n  archive: {{url: 'file://{tmp}/archive'}}\n  state_dir: {tmp}/state\n"
        )
        cli = jboxmon_cli(config)
        started_iso = datetime.fromtimestamp(start_s, UTC).isoformat()
        subprocess.run(
            [
                *cli,
                "simulate",
                "--boxes",
                str(args.boxes),
                "--backfill",
                f"{args.hours}h",
                "--start",
                started_iso,
                "--truth",
                f"{tmp}/truth.jsonl",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        influx = InfluxClient(InfluxSettings(url=influxd.url, database="bench", gzip=False))

        with ArchiveStore(StoreSettings(url=f"file://{tmp}/scratch")) as scratch:
            t0 = time.perf_counter()
            base_rows = baseline_export(influx, hours)
            base_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows, size = archive_only(influx, scratch, hours)
            archive_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            baseline_export(influx, hours)
            base_s = (base_s + time.perf_counter() - t0) / 2
            lp = line_protocol_bytes(scratch)
        assert rows == base_rows, (rows, base_rows)
        print(f"bare InfluxQL export: {base_rows:,} telemetry rows in {base_s:.2f}s = {base_rows / base_s:,.0f} rows/s")
        print(
            f"archive (export, Parquet zstd, write, read back + verify, manifest): {rows:,} rows in "
            f"{archive_s:.2f}s = {rows / archive_s:,.0f} rows/s"
        )
        print(f"ratio archive / bare export: {base_s / archive_s:.2f}x (target >= 0.6x)")
        print(
            f"size: {size:,} bytes of Parquet vs {lp:,} bytes of line protocol = {lp / size:.1f}x smaller "
            "(target >= 10x)"
        )

        boxes = ["jbox-probe"]
        issued = subprocess.run([*cli, "tokens", "issue", *boxes, "--json"], capture_output=True, text=True, check=True)
        token = json.loads(issued.stdout)[boxes[0]]
        port = free_port()
        collector = start_collector(config, port)
        try:
            probe = AckProbe(f"http://127.0.0.1:{port}/write", token).start()
            time.sleep(2)
            quiet_from = time.monotonic()
            time.sleep(15)
            quiet_to = time.monotonic()
            full = load_config(config).model_copy(update={"retention": retention_config(tmp)})
            report = pass_in_child(full)
            busy_to = time.monotonic()
            busy_from = busy_to - report.seconds  # the pass itself, not the child's start-up
            probe.stop()
        finally:
            collector.terminate()
            collector.wait()
        print(
            f"retention pass: {report.rows_archived:,} rows archived and {report.rows_deleted:,} deleted "
            f"in {report.seconds:.1f}s ({report.rows_archived / report.seconds:,.0f} rows/s end to end)"
        )
        quiet, busy = probe.between(quiet_from, quiet_to), probe.between(busy_from, busy_to)
        print(f"collector ack latency without a pass: {describe(quiet)}")
        print(f"collector ack latency during the pass: {describe(busy)}")
        print(f"ratio p99 during / without: {np.percentile(busy, 99) / np.percentile(quiet, 99):.2f}x")


if __name__ == "__main__":
    main()
