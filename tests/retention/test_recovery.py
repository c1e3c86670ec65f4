"""Deterministic crash points: a pass stopped between verify and delete, late rows arriving meanwhile,
and InfluxDB's DELETE that ignores retention policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.lease import Lease
from retention.manifest import all_manifests, duplicate_keys
from retention.restore import RestoreOptions, restore
from retention.runner import JOURNAL, RetentionRunner
from retention.store import ArchiveError
from storage import InfluxClient
from storage.lineprotocol import encode_point
from tests.retention.conftest import NS, fleet_lines, load, retention_config, snapshot


class Crash(Exception):
    pass


def test_a_pass_stopped_before_deleting_is_finished_next_time_with_late_rows(
    influx: InfluxClient, store, tmp_path: Path, now, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(influx, fleet_lines(now, hours=26))
    config = retention_config(store.settings.url, tmp_path / "state")

    calls = []

    def crash(self: Lease) -> None:
        calls.append(1)
        if len(calls) == 2:  # the first check opens the first unit, the second precedes its first delete
            raise Crash("killed before the first delete")

    monkeypatch.setattr(Lease, "check", crash)
    with pytest.raises(Crash):
        RetentionRunner(config, influx, store, clock=lambda: now).run()
    monkeypatch.undo()
    assert store.read_bytes(JOURNAL) is not None
    [entry] = [e for m in all_manifests(store) for e in m.entries]
    assert entry.state == "verified" and entry.path.startswith("telemetry/")
    # a late row inside the crashed unit's window, not in its file
    late = encode_point("telemetry", {"jbox_id": "jbox-late"}, {"p_meas_kw": 1.5}, entry.start_ns + 7)
    measurement_policy = {"telemetry": "raw", "heartbeat": "raw", "log": "logs"}
    influx.write([late], retention_policy="raw")
    original = {m: snapshot(influx, p, m) for m, p in measurement_policy.items()}

    report = RetentionRunner(config, influx, store, clock=lambda: now).run()
    assert report.recovered == 1 and store.read_bytes(JOURNAL) is None
    for measurement, policy in measurement_policy.items():
        assert duplicate_keys(store, measurement) == 0
        assert all(e.state == "pruned" for m in all_manifests(store, measurement) for e in m.entries)
        restore(store, influx, RestoreOptions(measurement, 0, int(now * NS)))
        assert snapshot(influx, policy, measurement) == original[measurement]


def test_delete_ignores_retention_policies_so_a_shared_name_stops_the_prune(
    influx: InfluxClient, store, tmp_path: Path, now
) -> None:
    t = int(now - 2 * 86400) * NS
    influx.write([encode_point("telemetry", {"jbox_id": "a"}, {"x": 1.0}, t)], retention_policy="raw")
    influx.write([encode_point("telemetry", {"jbox_id": "a"}, {"x_mean": 1.0}, t)], retention_policy="ds_1h")
    # what InfluxDB 1.6 does: DELETE has no retention policy and removes the row from every policy
    influx.execute(f'DELETE FROM "telemetry" WHERE time >= {t} AND time < {t + 1}')
    assert not snapshot(influx, "ds_1h", "telemetry")

    influx.write([encode_point("telemetry", {"jbox_id": "a"}, {"x": 1.0}, t)], retention_policy="raw")
    influx.write([encode_point("telemetry", {"jbox_id": "a"}, {"x_mean": 1.0}, t)], retention_policy="ds_1h")
    config = retention_config(store.settings.url, tmp_path / "state")
    with pytest.raises(ArchiveError, match="would also remove its rows in ds_1h") as caught:
        RetentionRunner(config, influx, store, clock=lambda: now).run()
    assert caught.value.retryable is False
    assert snapshot(influx, "raw", "telemetry") and snapshot(influx, "ds_1h", "telemetry")
    [entry] = [e for m in all_manifests(store, "telemetry") for e in m.entries]
    assert entry.state == "verified"  # archived, not deleted


def test_merge_keeps_every_row_once_and_a_new_field() -> None:
    import pyarrow as pa

    from retention.archive import Layout
    from retention.runner import merge_rows

    old = Layout("m", ("jbox_id",), (("x", "float"),))
    new = Layout("m", ("jbox_id",), (("x", "float"), ("y", "integer")))
    archived = pa.table(
        {
            "time": pa.array([1, 2], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "jbox_id": ["a", "a"],
            "x": [1.0, 2.0],
        },
        schema=old.schema(),
    )
    held = pa.table(
        {
            "time": pa.array([2, 3], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "jbox_id": ["a", "a"],
            "x": [2.5, 3.0],
            "y": [7, None],
        },
        schema=new.schema(),
    )
    merged = merge_rows(archived, held)
    assert Layout.of(merged) == new
    assert merged.column("x").to_pylist() == [1.0, 2.5, 3.0]
    assert merged.column("y").to_pylist() == [None, 7, None]
