"""Webhook delivery end to end: alerts POSTed to the real API, grouped, delivered to a real HTTP
receiver as Alertmanager v4 payloads whose HMAC signature verifies; a receiver down for a while gets
every notification once it is back."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import requests

from alerting.api import create_app
from inventory.access import AccessPolicy
from jboxmon.httpserver import BackgroundServer
from tests.alerting.conftest import alert


def _route(url: str, **extra) -> dict:
    return {
        "route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "200ms", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": url, **extra}]}],
    }  # fmt: skip


def test_v4_payload_signed_and_keyed(webhook, service_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    service = service_factory(_route(webhook.url, hmac_secret={"env": "HOOK_SECRET"}))
    server = BackgroundServer(create_app(service, access=AccessPolicy.open())).start()
    try:
        body = [alert("SetpointNotFollowed", "jbox-0001", site="s1"), alert("SetpointNotFollowed", "jbox-0002")]
        assert requests.post(server.url + "/api/v2/alerts", json=body, timeout=5).status_code == 200
        assert requests.post(server.url + "/api/v2/alerts", json=[{"labels": "x"}], timeout=5).status_code == 400
        payloads = webhook.wait_for(1, timeout_s=15)
    finally:
        server.stop()
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "hook"
    assert payload["groupLabels"] == {"alertname": "SetpointNotFollowed"}
    assert payload["commonLabels"] == {"alertname": "SetpointNotFollowed"}
    assert payload["truncatedAlerts"] == 0
    assert {"externalURL", "groupKey", "commonAnnotations"} <= set(payload)
    assert sorted(a["labels"]["jbox_id"] for a in payload["alerts"]) == ["jbox-0001", "jbox-0002"]
    assert all(a["status"] == "firing" and a["endsAt"] == "0001-01-01T00:00:00Z" for a in payload["alerts"])
    headers, raw = webhook.requests[0]
    expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers["X-Jboxmon-Signature"] == expected
    assert len(headers["Idempotency-Key"]) == 32


def test_resolved_is_notified_once(webhook, service_factory) -> None:
    service = service_factory(_route(webhook.url))
    service.receive([alert("OverheatCritical", "jbox-0003")])
    webhook.wait_for(1, timeout_s=15)
    for _ in range(3):  # the rules engine re-sends resolutions: one notification only
        service.receive([alert("OverheatCritical", "jbox-0003", status="resolved")])
    payloads = webhook.wait_for(2, timeout_s=15)
    time.sleep(2.5)
    assert [p["status"] for p in webhook.payloads] == ["firing", "resolved"]
    assert payloads[1]["alerts"][0]["endsAt"] == "2026-01-01T00:10:00.000Z"


def test_receiver_down_then_back_gets_each_notification_once(webhook, service_factory) -> None:
    webhook.status = 503
    service = service_factory(_route(webhook.url))
    for name in ("A", "B", "C"):
        service.receive([alert(name, f"jbox-{i:04d}") for i in range(5)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and service.outbox.depth()[0] < 3:
        time.sleep(0.1)
    assert service.outbox.depth()[0] == 3
    time.sleep(3)  # several retries refused while the receiver is down
    for _ in range(3):  # producers keep re-sending the same firing alerts meanwhile, and a new box fails
        service.receive([alert(name, f"jbox-{i:04d}") for name in ("A", "B", "C") for i in range(5)])
        service.receive([alert("A", "jbox-0099")])
    time.sleep(1.5)  # a group interval: A's newer state supersedes its waiting notification
    webhook.status = 200
    webhook.wait_for(3, timeout_s=20)
    time.sleep(2.5)  # a few more group intervals: nothing new to say
    groups = sorted(p["groupLabels"]["alertname"] for p in webhook.payloads)
    assert groups == ["A", "B", "C"]
    assert len(webhook.unique_keys()) == 3
    group_a = next(p for p in webhook.payloads if p["groupLabels"]["alertname"] == "A")
    assert len(group_a["alerts"]) == 6  # the latest state of the group, the new box included
    assert service.outbox.depth()[0] == 0
    outcomes = [e.state for e in service.history.query(kind="notification")]
    assert outcomes.count("sent") == 3 and outcomes.count("retry") >= 3
