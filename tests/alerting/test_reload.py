"""Switching off without a restart: a receiver disabled in the config file stops getting notifications
once the file is reloaded (``POST /-/reload``, as SIGHUP does); enabling it again resumes delivery.
Silences over the API and the history endpoint are exercised on the way."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from config import load_config
from jboxmon.alerting_component import AlertingComponent
from tests.alerting.conftest import alert


def _write(path: Path, tmp_path: Path, url: str, disabled: bool) -> None:
    path.write_text(
        "auth: {mode: none}\n"  # loopback; this test is about reload
        f"alerting:\n  outbox: {tmp_path}/o.sqlite\n  silences: {tmp_path}/s.sqlite\n  history: {tmp_path}/h.sqlite\n"
        "  route: {receiver: hook, group_by: [alertname], group_wait: 100ms, group_interval: 500ms}\n"
        f"  receivers:\n    - name: hook\n      disabled: {str(disabled).lower()}\n"
        f"      webhook_configs: [{{url: '{url}'}}]\n"
    )


def test_disable_receiver_on_reload_then_silence_and_history(tmp_path: Path, webhook) -> None:
    path = tmp_path / "jboxmon.yaml"
    _write(path, tmp_path, webhook.url, disabled=False)
    component = AlertingComponent(load_config(path), None, path, port=0).start()
    base = component.url
    try:
        requests.post(base + "/api/v2/alerts", json=[alert("A", "jbox-0001")], timeout=5).raise_for_status()
        assert len(webhook.wait_for(1, timeout_s=10)) == 1
        _write(path, tmp_path, webhook.url, disabled=True)
        assert requests.post(base + "/-/reload", timeout=10).json() == {"reloaded": True, "error": None}
        requests.post(base + "/api/v2/alerts", json=[alert("B", "jbox-0002")], timeout=5).raise_for_status()
        time.sleep(1.5)
        assert len(webhook.payloads) == 1  # switched off: B is not sent
        silence = {"matchers": [{"name": "jbox_id", "value": "jbox-0003", "isRegex": False}],
                   "endsAt": "2099-01-01T00:00:00Z", "createdBy": "alice", "comment": "maintenance"}  # fmt: skip
        silence_id = requests.post(base + "/api/v2/silences", json=silence, timeout=5).json()["silenceID"]
        _write(path, tmp_path, webhook.url, disabled=False)
        assert requests.post(base + "/-/reload", timeout=10).json()["reloaded"] is True
        requests.post(base + "/api/v2/alerts", json=[alert("C", "jbox-0003")], timeout=5).raise_for_status()
        payloads = webhook.wait_for(2, timeout_s=10)
        time.sleep(1)
        assert sorted(p["groupLabels"]["alertname"] for p in webhook.payloads) == ["A", "B"]  # C is silenced
        assert payloads[1]["groupLabels"] == {"alertname": "B"}
        views = {v["labels"]["alertname"]: v for v in requests.get(base + "/api/v2/alerts", timeout=5).json()}
        assert views["C"]["status"] == {"state": "suppressed", "silencedBy": [silence_id], "inhibitedBy": []}
        requests.delete(f"{base}/api/v2/silence/{silence_id}", timeout=5).raise_for_status()
        assert requests.get(f"{base}/api/v2/silence/{silence_id}", timeout=5).json()["status"]["state"] == "expired"
        history = requests.get(base + "/api/v1/history", params={"box": "jbox-0003"}, timeout=5).json()["events"]
        assert [e["state"] for e in history if e["kind"] == "alert"][:2] == ["firing", "silenced"]
        skipped = requests.get(base + "/api/v1/history", params={"kind": "notification"}, timeout=5).json()["events"]
        assert "skipped" in [e["state"] for e in skipped]
        assert requests.post(base + "/api/v2/silences", json={"matchers": []}, timeout=5).status_code == 400
    finally:
        component.stop()


def test_config_check_resolves_receiver_secrets(tmp_path: Path, capsys, monkeypatch) -> None:
    from jboxmon.cli import main

    monkeypatch.delenv("JBOXMON_TEST_HOOK_KEY", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        "alerting:\n  receivers:\n    - name: log\n      webhook_configs:\n"
        "        - {url: 'http://127.0.0.1:9/x', hmac_secret: {env: JBOXMON_TEST_HOOK_KEY}}\n"
    )
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "alerting.receivers[0] (log).webhook_configs[0].hmac_secret: environment variable" in err
    monkeypatch.setenv("JBOXMON_TEST_HOOK_KEY", "k")
    assert main(["config", "check", str(path)]) == 0


def test_metrics_and_alert_filters(tmp_path: Path, webhook) -> None:
    path = tmp_path / "jboxmon.yaml"
    _write(path, tmp_path, webhook.url, disabled=False)
    component = AlertingComponent(load_config(path), None, path, port=0).start()
    base = component.url
    try:
        alerts = [alert("JBoxSilent", "jbox-0001"), alert("TelemetryStale", "jbox-0001"), alert("A", "jbox-0002")]
        requests.post(base + "/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        silence = {"matchers": [{"name": "jbox_id", "value": "jbox-0002", "isRegex": False}],
                   "endsAt": "2099-01-01T00:00:00Z", "createdBy": "alice", "comment": "maintenance"}  # fmt: skip
        requests.post(base + "/api/v2/silences", json=silence, timeout=5).raise_for_status()
        webhook.wait_for(1, timeout_s=10)
        text = requests.get(base + "/metrics", timeout=5).text
        assert 'jboxmon_alerting_alerts{state="silenced"} 1.0' in text
        assert 'jboxmon_alerting_alerts{state="inhibited"} 1.0' in text  # JBoxSilent inhibits TelemetryStale
        assert (
            'jboxmon_alerting_notifications_total{integration="hook/webhook[0]",outcome="sent",receiver="hook"}' in text
        )
        assert "jboxmon_alerting_outbox_depth 0.0" in text and "jboxmon_alerting_outbox_oldest_age_seconds" in text
        active = requests.get(base + "/api/v2/alerts", params={"silenced": "false", "inhibited": "false"}, timeout=5)
        assert [v["labels"]["alertname"] for v in active.json()] == ["JBoxSilent"]
        one = requests.get(base + "/api/v2/alerts", params={"filter": 'alertname=~"Tel.*"'}, timeout=5).json()
        assert [v["status"]["state"] for v in one] == ["suppressed"] and one[0]["status"]["inhibitedBy"]
    finally:
        component.stop()


def test_route_disabled_on_reload_sends_its_alerts_where_they_would_go_without_it(tmp_path: Path) -> None:
    from alerting.service import AlertingService
    from tests.alerting.conftest import make_config

    def section(disabled: bool) -> dict:
        return {
            "route": {"receiver": "default", "group_by": ["alertname"], "group_wait": "10s", "group_interval": "1m",
                      "routes": [{"matchers": ['severity="critical"'], "receiver": "pager", "disabled": disabled}]},
            "receivers": [{"name": "default", "webhook_configs": [{"url": "http://127.0.0.1:9/default"}]},
                          {"name": "pager", "webhook_configs": [{"url": "http://127.0.0.1:9/pager"}]}],
        }  # fmt: skip

    clock = [1_800_000_000.0]
    service = AlertingService(make_config(tmp_path, **section(False)), clock=lambda: clock[0], threads=False).start()
    try:
        service.receive([alert("OverheatCritical", "jbox-0001", severity="critical")])
        clock[0] += 11
        service.tick()
        service.reload(make_config(tmp_path, **section(True)))
        service.receive([alert("OverheatCritical", "jbox-0002", severity="critical")])
        clock[0] += 11
        service.tick()
        events = [e for e in service.history.query(kind="notification") if e.state == "queued"]
    finally:
        service.stop()
    assert [e.receiver for e in events] == ["pager/webhook[0]", "default/webhook[0]"]
    assert events[1].detail["firing"] == 2  # both boxes now go to the default receiver
