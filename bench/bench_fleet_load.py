"""Benchmark: a 10,000-box fleet pushing through the collector in real time.

Each box samples once per second and sends its 10 samples as one payload-v2 request every 10 s
(1,000 requests/s, 10,000 points/s in all), for two minutes. Reported: loss (acknowledged points
counted back in InfluxDB), acknowledgement latency percentiles, CPU seconds per 1,000 points of
the collector and of influxd, and, as the same-run baseline, the CPU influxd spends when the same
points are written to it directly in batches of 5,000.

The load generator is asyncio over raw keep-alive HTTP/1.1 (requests would need a core of its own
at this rate); it runs in this process, the collector in its own (``jboxmon collector``).

    .venv/bin/python bench/bench_fleet_load.py [--boxes 10000] [--seconds 120] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from common import start_collector

from inventory import Box, Registry
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer, free_port

TICK_HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, part: str = "both") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]) / TICK_HZ, int(fields[12]) / TICK_HZ
    return {"user": user, "system": system, "both": user + system}[part]


def v2_body(box: str, first_s: int) -> bytes:
    samples = [
        {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first_s + i)),
            "p_meas_kw": 100.0 + i,
            "p_setpoint_kw": 100.0,
            "grid_freq_hz": 50.0,
            "soc_pct": 50.0,
            "temp_max_c": 30.0,
        }
        for i in range(10)
    ]
    return json.dumps({"header": {"jbox_id": box}, "samples": samples}).encode()


async def connection(port: int, jobs: asyncio.Queue, latencies: list[float], stats: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while True:
        job = await jobs.get()
        if job is None:
            break
        box, token, first_s = job
        body = v2_body(box, first_s)
        request = (
            f"POST /v2/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        status = int(status_line.split()[1])
        stats[status] = stats.get(status, 0) + 1
        if status == 202:
            stats["points"] += 10
    writer.close()


async def run_fleet(port: int, tokens: dict[str, str], seconds: int, connections: int, start_s: int) -> tuple:
    jobs: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    stats: dict = {"points": 0}
    workers = [asyncio.create_task(connection(port, jobs, latencies, stats)) for _ in range(connections)]
    boxes = list(tokens.items())
    began = time.perf_counter()
    late = 0.0
    # every box sends once per 10 s window, spread evenly over the window (real boxes are not in phase)
    for window in range(seconds // 10):
        for index, (box, token) in enumerate(boxes):
            due = began + window * 10 + index * 10 / len(boxes)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay)
            jobs.put_nowait((box, token, start_s + window * 10))
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, stats, time.perf_counter() - began, late


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, InfluxServer(Path(tmp) / "influx") as influxd:
        config = Path(tmp) / "jboxmon.yaml"
        config.write_text(
            f"influxdb:\n  url: {influxd.url}\n  database: fleet\n  gzip: false\n"
            f"inventory:\n  path: {tmp}/registry.sqlite\ncollector:\n  spool_dir: {tmp}/spool\n"
        )
        with Registry(f"{tmp}/registry.sqlite") as registry:
            boxes = [Box(f"jbox-{i:05d}", f"site-{i // 5:04d}", "IDF", "fcr") for i in range(args.boxes)]
            tokens = registry.issue_many(boxes)
        port = free_port()
        collector = start_collector(config, port)
        influx_pid = influxd._process.pid
        try:
            start_s = int(time.time()) - args.seconds - 60
            cpu0 = cpu_seconds(collector.pid), cpu_seconds(influx_pid)
            system0 = cpu_seconds(collector.pid, "system")
            latencies, stats, elapsed, late = asyncio.run(
                run_fleet(port, tokens, args.seconds, args.connections, start_s)
            )
            client = InfluxClient(InfluxSettings(url=influxd.url, database="fleet"))
            deadline = time.monotonic() + 60
            while client.count("telemetry", "soc_pct") < stats["points"] and time.monotonic() < deadline:
                time.sleep(0.2)
            stored = client.count("telemetry", "soc_pct")
            cpu1 = cpu_seconds(collector.pid), cpu_seconds(influx_pid)
            system1 = cpu_seconds(collector.pid, "system")
        finally:
            collector.terminate()
            collector.wait()

        # baseline in the same run: influxd's CPU for the same number of points written directly
        direct = InfluxClient(InfluxSettings(url=influxd.url, database="direct", gzip=False))
        direct.create_database()
        lines = [
            f"telemetry,jbox_id=jbox-{i % args.boxes:05d},region=IDF,service=fcr,site=site-{i % args.boxes // 5:04d} "
            f"p_meas_kw=100.0,p_setpoint_kw=100.0,grid_freq_hz=50.0,soc_pct=50.0,temp_max_c=30.0 "
            f"{(start_s + i // args.boxes) * 10**9}"
            for i in range(stats["points"])
        ]
        cpu_before = cpu_seconds(influx_pid)
        direct.write_batches(lines, batch_size=5000)
        influx_direct_cpu = cpu_seconds(influx_pid) - cpu_before

    points = stats["points"]
    per_k = lambda cpu: 1000 * cpu / max(points, 1)  # noqa: E731
    print(
        f"{args.boxes:,} boxes x {args.seconds}s: {sum(v for k, v in stats.items() if k != 'points'):,} requests "
        f"in {elapsed:.1f}s, statuses { ({k: v for k, v in stats.items() if k != 'points'}) }"
    )
    print(f"acknowledged points {points:,}, stored {stored:,}: loss {points - stored:,}")
    print(
        f"ack latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms (target p99 < 250 ms); generator worst lag {late * 1000:.0f} ms"
    )
    print(
        f"CPU per 1,000 points: collector {per_k(cpu1[0] - cpu0[0]):.3f}s, influxd {per_k(cpu1[1] - cpu0[1]):.3f}s; "
        f"influxd written directly in batches of 5,000: {per_k(influx_direct_cpu):.3f}s"
    )
    print(f"collector CPU: {cpu1[0] - cpu0[0]:.1f}s of which system (kernel, fsync) {system1 - system0:.1f}s")
    print(
        f"ratio collector+influxd CPU / direct influxd CPU: "
        f"{(cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / max(influx_direct_cpu, 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
