"""The payload-version registry drives the routes, the OpenAPI document and the config's names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from collector import payloads
from collector.app import create_app, ingest_endpoints
from collector.groupcommit import GroupCommitter
from collector.model import Decoded, Point
from collector.openapi import openapi
from collector.payloads import PayloadVersion
from collector.payloads.common import require_object
from collector.service import IngestService
from collector.serving import BackgroundHttp
from config.collector import PAYLOAD_VERSIONS, CollectorConfig
from inventory import Registry
from storage import InfluxClient


def test_config_names_exactly_the_registered_versions() -> None:
    # config sits below the collector and keeps the names as a plain tuple: this holds them equal
    assert PAYLOAD_VERSIONS == tuple(payloads.VERSIONS)
    assert payloads.LATEST in payloads.VERSIONS
    assert all(name == version.name for name, version in payloads.VERSIONS.items())


def test_every_registered_version_is_routed_and_documented(tmp_path: Path, influx: InfluxClient) -> None:
    service = IngestService(CollectorConfig(spool_dir=tmp_path), influx, registry=Registry(tmp_path / "r.sqlite"))
    paths = [endpoint.path for endpoint in ingest_endpoints(service, GroupCommitter(service.spool))]
    assert paths == ["/v1/telemetry", "/v2/telemetry", "/v1/logs", "/write", "/api/v2/write"]
    document = openapi()
    for version in payloads.VERSIONS.values():
        assert document["paths"][version.path]["post"]["summary"] == version.summary
        assert document["components"]["schemas"][version.schema_name] == version.schema


def _decode_v3(body: object) -> Decoded:
    payload = require_object(body, "body")
    return Decoded(points=[(1, Point("telemetry", {}, {"soc_pct": payload["soc"]}, None))])


V3 = PayloadVersion(
    name="v3",
    summary="A test version",
    decode=_decode_v3,
    schema_name="V3Test",
    schema={"type": "object", "properties": {"soc": {"type": "number"}}},
)


@pytest.fixture
def served_v3(tmp_path: Path, influx: InfluxClient):
    registry_path = tmp_path / "registry.sqlite"
    with Registry(registry_path) as registry:
        token = registry.issue("jbox-0003", site="s", region="IDF", service="fcr")
    service = IngestService(CollectorConfig(spool_dir=tmp_path / "spool"), influx, registry=Registry(registry_path))
    committer = GroupCommitter(service.spool)
    server = BackgroundHttp(create_app(service, committer, {**payloads.VERSIONS, "v3": V3}))
    service.start()
    committer.start()
    server.start()
    yield server.url, token, service
    server.stop()
    committer.stop()
    service.stop()


def test_a_new_version_is_one_registry_entry(served_v3, influx: InfluxClient) -> None:
    url, token, service = served_v3
    response = requests.post(f"{url}/v3/telemetry", json={"soc": 42.5}, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1}
    spec = requests.get(f"{url}/openapi.json", timeout=10).json()
    assert spec["paths"]["/v3/telemetry"]["post"]["summary"] == "A test version"
    assert spec["components"]["schemas"]["V3Test"] == V3.schema
    deadline = time.monotonic() + 20
    while service.spool.pending_bytes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert influx.count("telemetry", "soc_pct", "\"jbox_id\" = 'jbox-0003'") == 1


def test_a_configured_version_without_a_decoder_refuses_to_start(tmp_path: Path, influx: InfluxClient) -> None:
    service = IngestService(CollectorConfig(spool_dir=tmp_path), influx, registry=Registry(tmp_path / "r.sqlite"))
    with pytest.raises(ValueError, match="collector.payload_versions: 'v2' has no decoder"):
        ingest_endpoints(service, GroupCommitter(service.spool), {"v1": payloads.VERSIONS["v1"]})
