"""A real alerting service with auth on (the shipped default), its inventory in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config import load_config
from jboxmon.alerting_component import AlertingComponent


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        f"inventory:\n  path: {tmp_path}/registry.sqlite\n"
        f"alerting:\n  outbox: {tmp_path}/o.sqlite\n  silences: {tmp_path}/s.sqlite\n  history: {tmp_path}/h.sqlite\n"
        "  route: {receiver: log, group_wait: 100ms, group_interval: 1s}\n" + extra
    )
    return path


@pytest.fixture
def alerting(tmp_path: Path) -> Iterator[AlertingComponent]:
    path = write_config(tmp_path)
    component = AlertingComponent(load_config(path), None, path, port=0).start()
    yield component
    component.stop()
