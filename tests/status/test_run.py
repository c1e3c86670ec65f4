"""The status page inside ``jboxmon run``: every real service on free ports with a real InfluxDB; the
page judges their real ``/health`` answers, and sees a rule engine's alert once it reaches alerting."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from config import JboxmonConfig
from inventory import Registry
from jboxmon.services import ALL, Services
from jboxmon.status_component import StatusComponent
from storage.server import free_port


def _config(influx_config, tmp_path: Path, **status) -> JboxmonConfig:
    return JboxmonConfig.model_validate({
        "influxdb": influx_config.model_dump(),
        "inventory": {"path": str(tmp_path / "registry.sqlite")},
        "collector": {"listen": f"127.0.0.1:{free_port()}", "spool_dir": str(tmp_path / "spool")},
        "rules": {"listen": f"127.0.0.1:{free_port()}", "state_db": str(tmp_path / "rules.sqlite"),
                  "files": [str(Path(__file__).resolve().parents[2] / "rules/default/jbox.yaml")]},
        "alerting": {"listen": f"127.0.0.1:{free_port()}", "outbox": str(tmp_path / "a/outbox.sqlite"),
                     "silences": str(tmp_path / "a/silences.sqlite"), "history": str(tmp_path / "a/history.sqlite")},
        "retention": {"listen": f"127.0.0.1:{free_port()}", "state_dir": str(tmp_path / "retention"),
                      "archive": {"url": f"file://{tmp_path}/archive"}},
        "status": {"listen": f"127.0.0.1:{free_port()}", "refresh": "1s", "timeout": "500ms", **status},
    })  # fmt: skip


def test_jboxmon_run_starts_the_status_page_and_it_sees_every_service(influx_config, tmp_path: Path,
                                                                     operator_headers) -> None:
    assert "status" in ALL
    config = _config(influx_config, tmp_path)
    with Registry(config.inventory.path) as registry:
        token = registry.issue("jbox-0001", site="paris-1", region="IDF")
        registry.issue("jbox-0002", site="paris-1", region="IDF")
    viewer = operator_headers(config.inventory.path, "viewer")  # auth on, as shipped
    services = Services(config, components=ALL).start()
    try:
        assert any(isinstance(c, StatusComponent) for c in services.started)
        url = f"http://{config.status.listen}/api/v1/status"
        deadline = time.monotonic() + 60
        while True:  # until a round has run with every service listening
            response = requests.get(url, headers=viewer, timeout=5)
            states = {c["name"]: c["state"] for c in response.json().get("components", [])}
            if states and all(state == "up" for state in states.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert states == dict.fromkeys(("collector", "rules", "alerting", "retention"), "up"), response.json()
        doc = response.json()
        assert doc["alerts"]["error"] is None and doc["alerts"]["counts"]["firing"] == 0
        assert (doc["fleet"]["registered"], doc["fleet"]["reporting"]) == (2, 0)
        # a box pushes through the collector: once its last contact is recorded, it is reporting
        pushed = requests.post(f"http://{config.collector.listen}/write", data="telemetry p_meas_kw=1.5\n",
                               headers={"Authorization": f"Token {token}"}, timeout=10)  # fmt: skip
        assert pushed.status_code == 204, pushed.text
        deadline = time.monotonic() + 60
        while requests.get(url, headers=viewer, timeout=5).json()["fleet"]["reporting"] != 1:
            assert time.monotonic() < deadline, "the pushing box never showed as reporting"
            time.sleep(0.5)
        fleet = requests.get(url, headers=viewer, timeout=5).json()["fleet"]
        assert [b["jbox_id"] for b in fleet["silent_boxes"]] == ["jbox-0002"]
    finally:
        services.stop()


def test_status_disabled_is_not_started_by_run(influx_config, tmp_path: Path) -> None:
    config = _config(influx_config, tmp_path, enabled=False)
    assert not any(isinstance(c, StatusComponent) for c in Services(config, components=("status", "rules")).build())
    # `jboxmon status` asks for it by name: it runs whatever `enabled` says
    assert any(isinstance(c, StatusComponent) for c in Services(config, components=("status",)).build())


def test_run_listen_override_is_where_the_page_looks_for_the_collector(influx_config, tmp_path: Path) -> None:
    config = _config(influx_config, tmp_path)
    (status,) = Services(config, listen="127.0.0.1:9181", components=("status",)).build()
    assert {t.name: t.url for t in status.service.targets}["collector"] == "http://127.0.0.1:9181"
