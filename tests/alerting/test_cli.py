"""``jboxmon silences add|list|expire`` and ``jboxmon alerts history`` against a running alerting service."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from config import load_config
from jboxmon.alerting_component import AlertingComponent
from jboxmon.cli import main
from tests.alerting.conftest import alert


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operator_headers):
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        f"alerting:\n  outbox: {tmp_path}/o.sqlite\n  silences: {tmp_path}/s.sqlite\n  history: {tmp_path}/h.sqlite\n"
        "  route: {receiver: log, group_wait: 100ms, group_interval: 1s}\n"
    )
    config = load_config(path)
    component = AlertingComponent(config, None, path, port=0).start()
    # auth is on, as shipped: the verbs send the operator token given in the environment
    token = operator_headers(config.inventory.path, "operator")["Authorization"].removeprefix("Bearer ")
    monkeypatch.setenv("JBOXMON_TOKEN", token)
    yield path, component
    component.stop()


def test_silences_add_list_expire(running, capsys: pytest.CaptureFixture[str]) -> None:
    path, component = running
    cli = ["--config", str(path), "silences", "--url", component.url]
    assert main([*cli, "add", 'jbox_id="jbox-0042"', "--duration", "2h", "--comment", "inverter swap",
                 "--author", "alice"]) == 0  # fmt: skip
    one = capsys.readouterr().out.strip()
    assert main([*cli, "add", 'site=~"site-00[78]"', "--every", "tuesday", "--between", "02:00-04:00", "--tz",
                 "Europe/Paris", "--comment", "weekly maintenance"]) == 0  # fmt: skip
    recurring = capsys.readouterr().out.strip()
    assert main([*cli, "list", "--json"]) == 0
    listed = {s["id"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(listed) == {one, recurring}
    assert listed[recurring]["recurrence"] == {"weekdays": ["tuesday"], "location": "Europe/Paris",
                                               "times": [{"start_time": "02:00", "end_time": "04:00"}]}  # fmt: skip
    assert listed[one]["matchers"] == [{"name": "jbox_id", "value": "jbox-0042", "isRegex": False, "isEqual": True}]
    assert main([*cli, "expire", one]) == 0
    capsys.readouterr()
    assert main([*cli, "list"]) == 0
    out = capsys.readouterr().out
    assert one not in out and recurring in out and "1 silence(s)" in out
    assert main([*cli, "add", "not a matcher", "--comment", "x"]) == 2
    assert main([*cli, "add", 'a="b"', "--comment", "x", "--every", "funday"]) == 1  # refused by the service (400)


def test_alerts_history(running, capsys: pytest.CaptureFixture[str]) -> None:
    path, component = running
    component.service.receive([alert("OverheatCritical", "jbox-0007"), alert("SoCLow", "jbox-0008")])
    time.sleep(0.5)
    component.service.tick()
    cli = ["--config", str(path), "alerts", "history", "--url", component.url]
    assert main([*cli, "--box", "jbox-0007", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [(e["kind"], e["state"], e["alertname"]) for e in events if e["kind"] == "alert"] == [
        ("alert", "firing", "OverheatCritical")
    ]
    assert main([*cli, "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "SoCLow" in out and "OverheatCritical" in out and "logged" in out
