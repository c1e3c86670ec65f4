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


@pytest.mark.parametrize("kms", [False, True], ids=["sse-s3", "sse-kms"])
def test_archives_are_encrypted_server_side(s3_endpoint: str, tmp_path: Path, kms: bool) -> None:
    """``encryption`` reaches every upload: the object says how S3 encrypted it, and with which key."""
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    key_id = None
    if kms:
        key_id = boto3.client("kms", endpoint_url=s3_endpoint, **keys).create_key()["KeyMetadata"]["KeyId"]
    archive = {
        "url": "s3://jbox-archive/fleet",
        "endpoint_url": s3_endpoint,
        "region": "us-east-1",
        "access_key_id": {"env": "TEST_S3_KEY"},
        "secret_access_key": {"env": "TEST_S3_SECRET"},
        "encryption": "aws:kms" if kms else "AES256",
        "kms_key_id": key_id,
    }
    config = retention_config("unused", tmp_path / "state", archive=archive)
    with ArchiveStore(StoreSettings.from_config(config.archive)) as store:
        store.write_bytes("telemetry/date=2026-12-01/hour=00/x.parquet", b"PAR1 not really")
    head = boto3.client("s3", endpoint_url=s3_endpoint, **keys).head_object(
        Bucket="jbox-archive", Key="fleet/telemetry/date=2026-12-01/hour=00/x.parquet"
    )
    assert head["ServerSideEncryption"] == ("aws:kms" if kms else "AES256")
    if kms:
        assert head["SSEKMSKeyId"].endswith(key_id)
