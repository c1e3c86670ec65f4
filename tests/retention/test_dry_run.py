"""The dry run is the pass without writes: the same planner and hours, the same rows exactly, bytes
within 2x; and it writes nothing (no file, no checkpoint, no downsampled point)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from retention.manifest import all_manifests
from retention.runner import RetentionRunner, RunOptions
from storage import InfluxClient
from tests.retention.conftest import fleet_lines, load, retention_config, snapshot

HOUR_NS = 3600 * 10**9
TIER = {"name": "1m", "every": "1m", "source": "raw", "retention_policy": "ds_1m", "measurements": ["telemetry"]}


def test_dry_run_lists_exactly_the_rows_the_pass_archives(influx: InfluxClient, store, tmp_path: Path, now) -> None:
    load(influx, fleet_lines(now, hours=36, boxes=5))
    before = snapshot(influx, "raw", "telemetry")
    # a downsampling tier that has never run: the first dry run used to leave telemetry out (its
    # cutoff waited for a checkpoint only the pass moves)
    config = retention_config(store.settings.url, tmp_path / "state", downsample=[TIER])
    runner = RetentionRunner(config, influx, store, clock=lambda: now)
    dry = runner.run(RunOptions(dry_run=True))

    assert not (tmp_path / "state" / "checkpoints.json").exists()
    assert not store.glob("*/date=*/manifest.json")
    assert snapshot(influx, "raw", "telemetry") == before
    assert influx.query('SELECT count(*) FROM "ds_1m"."telemetry_1m"').empty

    planned: dict[tuple[str, int], int] = defaultdict(int)
    estimated: dict[str, int] = defaultdict(int)
    for unit in dry.units:
        planned[(unit.rule.measurement, unit.start_ns // HOUR_NS)] += unit.rows
        estimated[unit.rule.measurement] += unit.est_bytes or 0
    assert {m for m, _ in planned} == {"telemetry", "heartbeat", "log"}

    report = runner.run()
    archived: dict[tuple[str, int], int] = defaultdict(int)
    for measurement in ("telemetry", "heartbeat", "log"):
        for manifest in all_manifests(store, measurement):
            for entry in manifest.entries:
                archived[(measurement, entry.start_ns // HOUR_NS)] += entry.rows
    assert planned == archived
    for measurement, counts in report.by_measurement.items():
        assert sum(r for (m, _), r in planned.items() if m == measurement) == counts["rows_archived"]
        ratio = estimated[measurement] / counts["bytes_archived"]
        assert 0.5 <= ratio <= 2, (measurement, estimated[measurement], counts["bytes_archived"])
