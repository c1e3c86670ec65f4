"""Fixtures: a real collector (uvicorn on a free port) writing into the real test InfluxDB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from collector.service import IngestService
from config.collector import CollectorConfig
from inventory import Registry
from jboxmon.collector_component import CollectorServer
from storage import InfluxClient


@dataclass
class RunningCollector:
    server: CollectorServer
    service: IngestService
    tokens: dict[str, str]
    influx: InfluxClient

    @property
    def url(self) -> str:
        return self.server.url

    def post(self, path: str, box: str | None = "jbox-0001", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if box is not None:
            headers.setdefault("Authorization", f"Token {self.tokens[box]}")
        return requests.post(self.url + path, headers=headers, timeout=10, **kwargs)

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until everything acknowledged has reached InfluxDB."""
        import time

        deadline = time.monotonic() + timeout_s
        while self.service.spool.pending_bytes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.service.spool.pending_bytes == 0, "spool did not drain"


def make_config(tmp_path: Path, **overrides) -> CollectorConfig:
    return CollectorConfig(spool_dir=tmp_path / "spool", **overrides)


def registry_path(tmp_path: Path) -> Path:
    return tmp_path / "registry.sqlite"


def issue_tokens(registry_path: Path, boxes: list[str]) -> dict[str, str]:
    with Registry(registry_path) as registry:
        return {
            box: registry.issue(box, site=f"site-{i // 2}", region="IDF", service="fcr") for i, box in enumerate(boxes)
        }


@pytest.fixture
def collector_factory(tmp_path: Path, influx: InfluxClient):
    started: list[CollectorServer] = []

    def start(**overrides) -> RunningCollector:
        config = make_config(tmp_path, **overrides)
        tokens = issue_tokens(registry_path(tmp_path), ["jbox-0001", "jbox-0002"]) if not started else {}
        retention = {"raw": 7 * 86400, "logs": 86400}  # the test database's policies (config defaults)
        service = IngestService(config, influx, registry=Registry(registry_path(tmp_path)), retention_s=retention)
        server = CollectorServer(service).start()
        started.append(server)
        return RunningCollector(server, service, tokens, influx)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def collector(collector_factory) -> Iterator[RunningCollector]:
    yield collector_factory()
