"""``collector.workers: N``: several processes behind one address, each with its own spool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from jboxmon.collector_workers import spool_layout
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer, free_port
from tests.collector.test_durability import Pusher, run_collector, wait_for_count


def worker_pids(supervisor: int) -> list[int]:
    """Live children of the supervisor, whichever of its threads started them (zombies left out)."""
    pids = []
    for children in Path(f"/proc/{supervisor}/task").glob("*/children"):
        try:
            pids += [int(pid) for pid in children.read_text().split()]
        except OSError:
            continue
    return [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_killing_a_worker_during_a_push_loses_no_acknowledged_point(tmp_path: Path) -> None:
    influxd = InfluxServer(tmp_path / "influx").start()
    config_path = tmp_path / "jboxmon.yaml"
    config_path.write_text(
        f"influxdb:\n  url: {influxd.url}\n  database: workers\n  timeout: 2s\n"
        f"inventory:\n  path: {tmp_path}/registry.sqlite\n"
        f"collector:\n  spool_dir: {tmp_path}/spool\n  workers: 2\n"
    )
    boxes = [f"jbox-{i:04d}" for i in range(6)]
    issued = subprocess.run(
        [sys.executable, "-m", "jboxmon.cli", "--config", str(config_path), "tokens", "issue", *boxes, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    port = free_port()
    process = run_collector(config_path, port)
    client = InfluxClient(InfluxSettings(url=influxd.url, database="workers"))
    try:
        workers = wait_for(lambda: len(worker_pids(process.pid)) == 2 and worker_pids(process.pid))
        assert len(workers) == 2
        pusher = Pusher(f"http://127.0.0.1:{port}", json.loads(issued.stdout)).start()
        time.sleep(3)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)  # no drain, no goodbye: its spool holds what it acknowledged
        time.sleep(3)  # the other worker keeps serving; the victim is restarted and replays its spool
        pusher.stop()
        assert pusher.acked > 500
        replaced = wait_for(lambda: len(worker_pids(process.pid)) == 2 and victim not in worker_pids(process.pid))
        assert replaced, "the killed worker was not restarted"
        # both workers took requests: each spool directory was written
        assert {path.name for path in (tmp_path / "spool").glob("worker-*")} == {"worker-0", "worker-1"}
        stored = wait_for_count(client, pusher.acked)
        # every acknowledged point is there; beyond them only batches in flight at the kill (spooled,
        # never acknowledged: the client retried them with the same timestamps, stored once)
        assert pusher.acked <= stored <= pusher.acked + 6 * pusher.batch
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        influxd.stop()
    assert not worker_pids(process.pid)


def test_spool_layout_gives_each_worker_its_own_directory_and_adopts_orphans(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    for name in ("worker-0", "worker-1", "worker-2", "worker-3", "worker-x"):
        (spool / name).mkdir(parents=True)
    (spool / "VERSION").write_text("1")  # a spool written by a single-process collector
    assert spool_layout(spool, 2, 0) == (spool / "worker-0", [spool, spool / "worker-2"])
    assert spool_layout(spool, 2, 1) == (spool / "worker-1", [spool / "worker-3"])
    assert spool_layout(spool, 4, 3) == (spool / "worker-3", [])
    assert spool_layout(spool, 1, 0) == (spool, [spool / f"worker-{i}" for i in range(4)])


def test_workers_answer_on_one_address(tmp_path: Path, influx_config) -> None:
    config_path = tmp_path / "jboxmon.yaml"
    config_path.write_text(
        f"influxdb:\n  url: {influx_config.url}\n  database: {influx_config.database}\n"
        f"inventory:\n  path: {tmp_path}/registry.sqlite\ncollector:\n  spool_dir: {tmp_path}/spool\n  workers: 3\n"
    )
    port = free_port()
    process = run_collector(config_path, port)
    try:
        assert len(wait_for(lambda: len(worker_pids(process.pid)) == 3 and worker_pids(process.pid))) == 3
        for _ in range(20):  # new connections each time: any worker may answer, all the same way
            assert requests.post(f"http://127.0.0.1:{port}/write", data="x", timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
