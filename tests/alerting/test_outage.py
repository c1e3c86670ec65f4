"""A webhook receiver down for several minutes, then back, with the sender on an injected clock:
retries back off (capped at retry.max), the group's newer state supersedes the waiting notification,
and the receiver gets one notification per group once it is back. Past ``give_up_after`` a
notification is failed, and history says so."""

from __future__ import annotations

from pathlib import Path

from alerting.receivers import Context
from alerting.receivers.webhook import WebhookNotifier
from alerting.sender import Sender
from alerting.service import AlertingService
from config.alerting import WebhookConfig
from tests.alerting.conftest import alert, make_config


def _service(tmp_path: Path, url: str, clock: list[float], **retry) -> tuple[AlertingService, Sender]:
    config = make_config(
        tmp_path,
        route={"receiver": "hook", "group_by": ["alertname"], "group_wait": "30s", "group_interval": "5m"},
        receivers=[{"name": "hook", "webhook_configs": [{"url": url}]}],
        retry={"initial": "1s", "max": "1m", **retry},
    )
    service = AlertingService(config, clock=lambda: clock[0], threads=False).start()
    return service, Sender(service.outbox, service.history, service.metrics, config.retry, lambda: clock[0])


def test_receiver_down_for_minutes_then_one_notification_per_group(tmp_path: Path, webhook) -> None:
    clock = [1_800_000_000.0]
    service, sender = _service(tmp_path, webhook.url, clock)
    notifier = WebhookNotifier(WebhookConfig(url=webhook.url, timeout=5), Context())
    webhook.status = 503
    attempts_while_down = 0
    try:
        start = clock[0]
        for second in range(0, 15 * 60):
            clock[0] = start + second
            if second % 60 == 0:  # the producer re-sends every minute; a new box joins group A at 7 min
                boxes = ["jbox-0001", "jbox-0002"] + (["jbox-0003"] if second >= 420 else [])
                service.receive([alert("A", b) for b in boxes] + [alert("B", "jbox-0009")])
            if second == 10 * 60:
                webhook.status = 200  # back after 10 minutes
            service.tick()
            while sender.step("hook/webhook[0]", notifier):
                attempts_while_down += webhook.status != 200
    finally:
        notifier.close()
        service.stop()
    payloads = webhook.payloads
    assert sorted(p["groupLabels"]["alertname"] for p in payloads) == ["A", "B"]  # one per group
    group_a = next(p for p in payloads if p["groupLabels"]["alertname"] == "A")
    assert sorted(a["labels"]["jbox_id"] for a in group_a["alerts"]) == ["jbox-0001", "jbox-0002", "jbox-0003"]
    assert 10 <= attempts_while_down <= 30  # backed off: 1, 2, 4 ... 60 s, not one try per second


def test_gives_up_after_the_limit(tmp_path: Path, webhook) -> None:
    clock = [1_800_000_000.0]
    service, sender = _service(tmp_path, webhook.url, clock, give_up_after="5m")
    notifier = WebhookNotifier(WebhookConfig(url=webhook.url, timeout=5), Context())
    webhook.status = 503
    try:
        start = clock[0]
        for second in range(0, 8 * 60):
            clock[0] = start + second
            if second % 60 == 0:
                service.receive([alert("A", "jbox-0001")])  # still firing
            service.tick()
            while sender.step("hook/webhook[0]", notifier):
                pass
        outcomes = [e.state for e in service.history.query(kind="notification")]
        assert service.outbox.depth()[0] == 0
    finally:
        notifier.close()
        service.stop()
    assert outcomes[0] == "queued" and outcomes[-1] == "failed" and "retry" in outcomes
    assert webhook.payloads == []
