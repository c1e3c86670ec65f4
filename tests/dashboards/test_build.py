"""Dashboards and provisioning: golden files, stable output, secrets never written, the CLI verb.

Regenerate the golden files after an intended change with
``JBOXMON_UPDATE_GOLDEN=1 pytest tests/dashboards`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from config import JboxmonConfig
from dashboards import BuildOptions, build
from dashboards.build import documents
from jboxmon.cli import main

GOLDEN = Path(__file__).parent / "golden"
GRAFANA_PATH = "/var/lib/grafana/dashboards/jboxmon"


def _options(tmp_path: Path) -> BuildOptions:
    return BuildOptions(out=tmp_path / "grafana", dashboards_path=GRAFANA_PATH)


def test_build_matches_the_golden_files(tmp_path: Path) -> None:
    written = build(JboxmonConfig(), _options(tmp_path))
    relative = sorted(str(p.relative_to(tmp_path / "grafana")) for p in written)
    if os.environ.get("JBOXMON_UPDATE_GOLDEN"):
        for name in relative:
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text((tmp_path / "grafana" / name).read_text())
    golden = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file())
    assert relative == golden
    for name in relative:
        assert (tmp_path / "grafana" / name).read_text() == (GOLDEN / name).read_text(), name


def test_output_is_stable_and_keys_sorted(tmp_path: Path) -> None:
    first = documents(JboxmonConfig(), _options(tmp_path))
    assert documents(JboxmonConfig(), _options(tmp_path)) == first
    text = first["dashboards/jboxmon-fleet.json"]
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_dashboard_shape(tmp_path: Path) -> None:
    board = json.loads(documents(JboxmonConfig(), _options(tmp_path))["dashboards/jboxmon-fleet.json"])
    titles = [p["title"] for p in board["panels"]]
    assert {"Boxes reporting", "Faulty share", "Power vs setpoint", "State of charge", "Hottest cell"} <= set(titles)
    assert any(t.startswith("Log lines") for t in titles)
    assert [p["id"] for p in board["panels"]] == list(range(1, len(titles) + 1))
    assert {v["name"] for v in board["templating"]["list"]} == {"region", "box"}
    assert all(a["query"].startswith('SELECT "value"') for a in board["annotations"]["list"])
    # no two panels overlap on the grid
    cells = [
        (x, y)
        for p in board["panels"]
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)) and max(x for x, _ in cells) < 24


def test_temperature_thresholds_come_from_the_fleet_section(tmp_path: Path) -> None:
    config = JboxmonConfig.model_validate({"fleet": {"temp_warning_c": 41.5, "temp_critical_c": 49.5}})
    board = json.loads(documents(config, _options(tmp_path))["dashboards/jboxmon-fleet.json"])
    panel = next(p for p in board["panels"] if p["title"] == "Hottest cell")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 41.5, 49.5]
    assert "41.5 °C" in panel["description"]


def test_heartbeat_panel_buckets_by_the_heartbeat_interval(tmp_path: Path) -> None:
    config = JboxmonConfig.model_validate({"fleet": {"heartbeat_interval": "15m"}})
    board = json.loads(documents(config, _options(tmp_path))["dashboards/jboxmon-fleet.json"])
    panel = next(p for p in board["panels"] if p["title"] == "Boxes reporting")
    assert "GROUP BY time(15m)" in panel["targets"][1]["query"]


def test_datasource_follows_the_influxdb_section_and_never_writes_a_secret(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("JBOXMON_TEST_INFLUX_TOKEN", "very-secret-token")
    ca = tmp_path / "ca.pem"
    config = JboxmonConfig.model_validate(
        {
            "influxdb": {
                "url": "https://influx.example.net:8086",
                "database": "fleet",
                "token": {"env": "JBOXMON_TEST_INFLUX_TOKEN"},
                "tls_verify": str(ca),
            }
        }
    )
    text = documents(config, _options(tmp_path))["provisioning/datasources/jboxmon.yaml"]
    assert "very-secret-token" not in text
    source = yaml.safe_load(text)["datasources"][0]
    assert source["url"] == "https://influx.example.net:8086"
    assert source["jsonData"]["dbName"] == "fleet"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"] == {
        "httpHeaderValue1": "Token $__env{JBOXMON_TEST_INFLUX_TOKEN}",
        "tlsCACert": f"$__file{{{ca}}}",
    }


def test_username_and_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2")
    config = JboxmonConfig.model_validate({"influxdb": {"username": "grafana", "password": {"file": str(secret)}}})
    text = documents(config, _options(tmp_path))["provisioning/datasources/jboxmon.yaml"]
    assert "hunter2" not in text
    source = yaml.safe_load(text)["datasources"][0]
    assert source["user"] == "grafana"
    assert source["secureJsonData"] == {"password": f"$__file{{{secret}}}"}


def test_cli_builds_into_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("logging: {level: WARNING}\n")
    out = tmp_path / "grafana"
    assert main(["--config", str(config), "dashboards", "build", "--out", str(out)]) == 0
    assert (out / "dashboards/jboxmon-fleet.json").exists()
    provider = yaml.safe_load((out / "provisioning/dashboards/jboxmon.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == str((out / "dashboards").resolve())
    assert str(out / "provisioning/datasources/jboxmon.yaml") in capsys.readouterr().out
    # a rebuild replaces the files and leaves no temporary file behind
    assert main(["--config", str(config), "dashboards", "build", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [
        "jboxmon-fleet.json",
        "jboxmon.yaml",
        "jboxmon.yaml",
    ]
