"""The rules side of the hand-over: failed posts are counted, logged and retried; resolved alerts are
re-sent for 15 minutes, so a receiver that was away still learns that the alert ended."""

from __future__ import annotations

import datetime as dt
import time

from prometheus_client import CollectorRegistry

from alerting.model import Alert
from rules.sinks import HttpAlertSink

T0 = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)


def _alert(status: str, box: str = "jbox-0001") -> Alert:
    return Alert("SetpointNotFollowed", {"jbox_id": box}, {"summary": "x"}, status, T0,
                 T0 + dt.timedelta(minutes=5) if status == "resolved" else None)  # fmt: skip


def test_failed_posts_are_counted_and_retried(webhook) -> None:
    registry = CollectorRegistry()
    sink = HttpAlertSink(webhook.url, registry=registry).start()
    try:
        webhook.status = 503
        sink.send([_alert("firing")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sink.failures < 2:
            time.sleep(0.05)
        assert sink.failures >= 2  # retried by itself, without a new evaluation
        assert registry.get_sample_value("jboxmon_rules_alert_handover_failures_total") == sink.failures
        webhook.status = 200
        assert sink.flush(timeout_s=40)
    finally:
        sink.stop()
    assert webhook.payloads[0][0]["labels"] == {"alertname": "SetpointNotFollowed", "jbox_id": "jbox-0001"}


def test_resolved_alerts_are_resent_for_15_minutes(webhook) -> None:
    now = [1000.0]
    sink = HttpAlertSink(webhook.url, clock=lambda: now[0]).start()
    try:
        sink.send([_alert("resolved")])
        assert sink.flush()
        for minutes in (1, 5, 14):
            now[0] = 1000.0 + minutes * 60
            sink.send([_alert("firing", "jbox-0002")])  # later evaluations of the group
            assert sink.flush()
        now[0] = 1000.0 + 16 * 60
        sink.send([_alert("firing", "jbox-0002")])
        assert sink.flush()
    finally:
        sink.stop()
    resolved_in = [any(item.get("endsAt") for item in body) for body in webhook.payloads]
    assert resolved_in == [True, True, True, True, False]


def test_refused_alerts_do_not_hold_back_later_ones(webhook) -> None:
    calls: list[int] = []

    def deliver(items: list[dict]) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            raise ValueError("alerts[0].labels: an alert needs at least one label")  # permanent

    sink = HttpAlertSink(webhook.url)
    sink.deliver = deliver
    sink.start()
    try:
        sink.send([_alert("firing")])
        assert sink.flush()
        sink.send([_alert("firing", "jbox-0002")])
        assert sink.flush()
    finally:
        sink.stop()
    assert calls == [1, 1] and sink.failures == 1


def test_in_process_handover_as_in_jboxmon_run(webhook, service_factory) -> None:
    """Under ``jboxmon run`` the rules hand alerts to the alerting service in memory, through the same
    path as ``POST /api/v2/alerts``."""
    from rules.sinks import AlertHandover

    service = service_factory({
        "route": {"receiver": "hook", "group_wait": "100ms", "group_interval": "1s"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook.url}]}],
    })  # fmt: skip
    sink = AlertHandover(service.receive, name="alerting (in process)").start()
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
    firing = Alert("SetpointNotFollowed", {"jbox_id": "jbox-0001"}, {}, "firing", started)
    resolved = Alert("SetpointNotFollowed", {"jbox_id": "jbox-0001"}, {}, "resolved", started,
                     dt.datetime.now(dt.UTC))  # fmt: skip
    try:
        sink.send([firing])
        assert sink.flush()
        payloads = webhook.wait_for(1, timeout_s=10)
        sink.send([resolved])
        assert sink.flush()
        payloads = webhook.wait_for(2, timeout_s=10)
    finally:
        sink.stop()
    assert [p["status"] for p in payloads] == ["firing", "resolved"]
    assert payloads[0]["alerts"][0]["startsAt"] == started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
