"""SIGKILL a retention pass at random points, again and again, then let one finish:
archived rows + rows still in InfluxDB = original rows, and no row is archived twice."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retention.manifest import all_manifests, duplicate_keys
from retention.restore import RestoreOptions, restore
from retention.store import ArchiveStore, StoreSettings
from storage import InfluxClient
from tests.retention.conftest import NS, fleet_lines, load, snapshot

ROOT = Path(__file__).resolve().parents[2]
POLICIES = [("raw", "telemetry"), ("raw", "heartbeat"), ("logs", "log")]


def write_config(path: Path, influx: InfluxClient, archive: Path, state: Path) -> None:
    path.write_text(
        f"""influxdb: {{url: '{influx.settings.url}', database: {influx.settings.database}}}
retention:
  archive: {{url: 'file://{archive}'}}
  state_dir: {state}
  delete_slice: 5m
  downsample: []
  usage: {{enabled: false}}
  policies:
    - {{measurement: telemetry, retention_policy: raw, age: 1d}}
    - {{measurement: heartbeat, retention_policy: raw, age: 1d}}
    - {{measurement: log, retention_policy: logs, age: 1d, levels: {{error: 3d, critical: 3d}}}}
"""
    )


def start_pass(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "jboxmon.cli", "--config", str(config), "retention", "run", "--no-progress"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(influx: InfluxClient, tmp_path: Path) -> None:
    now = time.time()
    config = tmp_path / "c.yaml"
    write_config(config, influx, tmp_path / "archive", tmp_path / "state")
    rng = random.Random(int(os.environ.get("JBOXMON_KILL_SEED", "5")))
    reference = InfluxClient(dataclasses.replace(influx.settings, database=influx.settings.database + "_ref"))
    reference.create_database()
    kills = 0
    for round_ in range(8):
        # each round brings more old rows (new boxes), so every pass has work to be killed in; the
        # reference database gets the same rows and is never pruned
        lines = fleet_lines(now, hours=44, boxes=3, step_s=30, seed=round_, first_box=3 * round_)
        load(influx, lines)
        load(reference, lines)
        process = start_pass(config)
        time.sleep(rng.uniform(0.5, 4.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
    original = {key: snapshot(reference, *key) for key in POLICIES}
    reference.execute(f'DROP DATABASE "{reference.settings.database}"', database="")
    reference.close()
    final = start_pass(config)
    output = final.communicate(timeout=300)[0].decode()
    assert final.returncode == 0, output
    assert kills >= 3, "the passes were too short to be killed: make the data larger"

    with ArchiveStore(StoreSettings(url=f"file://{tmp_path}/archive")) as store:
        other = InfluxClient(dataclasses.replace(influx.settings, database=influx.settings.database + "_kill"))
        try:
            other.create_database()
            for policy, measurement in POLICIES:
                assert duplicate_keys(store, measurement) == 0
                assert all(e.state == "pruned" for m in all_manifests(store, measurement) for e in m.entries)
                remaining = snapshot(influx, policy, measurement)
                restore(store, other, RestoreOptions(measurement, 0, int(now * NS), other.settings.database))
                archived = snapshot(other, policy, measurement)
                assert not archived & remaining
                assert archived | remaining == original[(policy, measurement)]
                assert sum(e.rows for m in all_manifests(store, measurement) for e in m.entries) == len(archived)
        finally:
            other.execute(f'DROP DATABASE "{other.settings.database}"', database="")
            other.close()
