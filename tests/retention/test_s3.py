"""The same archive -> prune -> restore round trip on an S3-protocol server (moto's server mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from retention.manifest import all_manifests, duplicate_keys
from retention.restore import RestoreOptions, restore
from retention.runner import RetentionRunner
from retention.store import ArchiveStore, StoreSettings
from storage import InfluxClient
from storage.server import free_port
from tests.retention.conftest import NS, fleet_lines, load, retention_config, snapshot


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("TEST_S3_KEY", "testing")
    monkeypatch.setenv("TEST_S3_SECRET", "testing")
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **keys).create_bucket(Bucket="jbox-archive")
    yield endpoint
    server.stop()


def test_round_trip_through_s3(influx: InfluxClient, s3_endpoint: str, tmp_path: Path, now) -> None:
    load(influx, fleet_lines(now, hours=30))
    original = {m: snapshot(influx, p, m) for p, m in (("raw", "telemetry"), ("logs", "log"))}
    archive = {
        "url": "s3://jbox-archive/fleet",
        "endpoint_url": s3_endpoint,
        "region": "us-east-1",
        "access_key_id": {"env": "TEST_S3_KEY"},
        "secret_access_key": {"env": "TEST_S3_SECRET"},
    }
    config = retention_config("unused", tmp_path / "state", archive=archive)
    with ArchiveStore(StoreSettings.from_config(config.archive)) as store:
        report = RetentionRunner(config, influx, store, clock=lambda: now).run()
        assert report.files > 0 and report.rows_deleted == report.rows_archived
        assert store.glob("telemetry/date=*/hour=*/*.parquet")
        for policy, measurement in (("raw", "telemetry"), ("logs", "log")):
            assert duplicate_keys(store, measurement) == 0
            assert all(e.state == "pruned" for m in all_manifests(store, measurement) for e in m.entries)
            restore(store, influx, RestoreOptions(measurement, 0, int(now * NS)))
            assert snapshot(influx, policy, measurement) == original[measurement]
