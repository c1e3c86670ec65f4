"""``jboxmon silences add|list|expire`` and ``jboxmon alerts history`` against a running alerting service."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from alerting.alerts import iso
from config import load_config
from jboxmon.alerting_component import AlertingComponent
from jboxmon.cli import main
from tests.alerting.conftest import alert
from tests.controlplane.helpers import issue_operator


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


def test_alerts_list_reads_the_alerting_service(
    running, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts from any producer, with state, what silences or inhibits them, receivers and age."""
    path, component = running
    service = component.service
    # a silence's createdBy is the operator whose token made it (not --author): alice signs in as herself
    _, token = issue_operator(load_config(path).inventory.path, "operator", name="alice")
    monkeypatch.setenv("JBOXMON_TOKEN", token)
    gone = {**alert("Gone", "jbox-0004"), "endsAt": iso(time.time() - 10)}  # resolved, still held for an hour
    service.receive([alert("JBoxSilent", "jbox-0001"), alert("OverheatCritical", "jbox-0001"),
                     alert("SoCLow", "jbox-0002"), alert("PumpFault", "jbox-0003"), gone])  # fmt: skip
    cli = ["--config", str(path)]
    assert main([*cli, "silences", "--url", component.url, "add", 'jbox_id="jbox-0002"', "--duration", "1h",
                 "--comment", "inverter swap", "--author", "alice"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main([*cli, "alerts", "list", "--url", component.url, "--json"]) == 0
    listed = {(a["labels"]["alertname"], a["labels"]["jbox_id"]): a for a in json.loads(capsys.readouterr().out)}
    assert {key: a["state"] for key, a in listed.items()} == {
        ("JBoxSilent", "jbox-0001"): "firing", ("OverheatCritical", "jbox-0001"): "inhibited",
        ("SoCLow", "jbox-0002"): "silenced", ("PumpFault", "jbox-0003"): "firing"}  # fmt: skip
    assert listed[("OverheatCritical", "jbox-0001")]["inhibitedBy"][0]["alertname"] == "JBoxSilent"
    assert listed[("SoCLow", "jbox-0002")]["silencedBy"][0]["createdBy"] == "alice"
    assert listed[("PumpFault", "jbox-0003")]["receivers"] == [{"name": "log"}]
    assert listed[("PumpFault", "jbox-0003")]["ageSeconds"] > 3600  # started 2026-01-01
    assert main([*cli, "alerts", "list", "--url", component.url, "--box", "jbox-0001"]) == 0
    out = capsys.readouterr().out
    assert "inhibited by JBoxSilent jbox-0001" in out and "SoCLow" not in out and "2 alert(s)" in out
    assert main([*cli, "alerts", "list", "--url", component.url, "--state", "resolved"]) == 0
    assert "Gone" in capsys.readouterr().out
    assert main([*cli, "alerts", "list", "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_history_rows_carry_group_names_and_boxes(running, capsys: pytest.CaptureFixture[str]) -> None:
    path, component = running
    service = component.service
    service.receive([alert("SoCLow", "jbox-0007"), alert("SoCLow", "jbox-0008")])
    time.sleep(0.5)
    service.tick()
    cli = ["--config", str(path), "alerts", "history", "--url", component.url]
    assert main([*cli, "--box", "jbox-0008", "--kind", "notification", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["state"] == "logged" and row["boxes"] == ["jbox-0007", "jbox-0008"]
    assert row["alertnames"] == ["SoCLow"] and row["groupKey"] == "{}:{}"
    assert main([*cli, "--alert", "SoCLow", "--kind", "notification"]) == 0
    assert "SoCLow               jbox-0007 +1 " in capsys.readouterr().out
    assert main([*cli, "--box", "jbox-0009", "--kind", "notification", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_silence_creation_and_expiry_are_history(running, capsys: pytest.CaptureFixture[str]) -> None:
    path, component = running
    silences = ["--config", str(path), "silences", "--url", component.url]
    assert main([*silences, "add", 'jbox_id="jbox-0042"', "--duration", "1h", "--comment", "swap"]) == 0
    by_hand = capsys.readouterr().out.strip()
    assert main([*silences, "add", 'jbox_id="jbox-0042"', "--duration", "1s", "--comment", "short"]) == 0
    short = capsys.readouterr().out.strip()
    assert main([*silences, "expire", by_hand]) == 0
    capsys.readouterr()
    time.sleep(2.2)  # the short one reaches its end; the service notices within a second
    history = ["--config", str(path), "alerts", "history", "--url", component.url, "--kind", "silence"]
    assert main([*history, "--box", "jbox-0042", "--json"]) == 0
    rows = [
        (e["state"], e["detail"]["silence"], e["detail"].get("by", "")) for e in json.loads(capsys.readouterr().out)
    ]
    assert rows == [("created", by_hand, ""), ("created", short, ""), ("expired", by_hand, "expire"),
                    ("expired", short, "")]  # fmt: skip


def test_history_labels_rows_point_at_their_events(tmp_path: Path) -> None:
    """Batches mixing alert and notification events: each name and box indexes the right event."""
    from alerting.history import Event, History

    history = History(tmp_path / "h.sqlite").open()
    try:
        for batch in range(3):
            history.record([
                Event(batch, "alert", "firing", "A", f"box-{batch}"),
                Event(batch, "notification", "sent", detail={"alertnames": ["A", "B"], "boxes": [f"box-{batch}", "x"]}),
                Event(batch, "alert", "firing", "B", "x"),
            ])  # fmt: skip
        found = history.query(box="box-1")
        assert [(e.at, e.kind) for e in found] == [(1, "alert"), (1, "notification")]
        assert len(history.query(box="x", kind="notification")) == 3
        assert [e.at for e in history.query(alertname="B", kind="alert")] == [0, 1, 2]
    finally:
        history.close()
