"""The alerting service's background loops (the grouper's tick, one sender per integration) survive
any exception: counted in /metrics, /health 503 naming the loop, restarted, and the notification
still delivered once the fault is gone."""

from __future__ import annotations

import sqlite3
import threading
import time

import requests

from alerting.api import create_app
from inventory.access import AccessPolicy
from jboxmon.httpserver import BackgroundServer
from tests.alerting.conftest import alert

ROUTE = {
    "route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "100ms", "group_interval": "1s",
              "repeat_interval": "1h"},
}  # fmt: skip


class RaiseWhile:
    def __init__(self, method, error: Exception) -> None:
        self.method, self.error = method, error
        self.broken = threading.Event()
        self.broken.set()
        self.raised = 0

    def __call__(self, *args, **kwargs):
        if self.broken.is_set():
            self.raised += 1
            raise self.error
        return self.method(*args, **kwargs)


def wait_for(predicate, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def loop_errors(url: str, loop: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    prefix = f'jboxmon_alerting_loop_errors_total{{loop="{loop}"}} '
    return float(next(line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)))


def test_a_sender_whose_outbox_read_fails_is_restarted_and_delivers_after(webhook, service_factory, monkeypatch):
    service = service_factory({**ROUTE, "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook.url}]}]})
    fault = RaiseWhile(service.outbox.next_due, sqlite3.OperationalError("disk I/O error"))
    monkeypatch.setattr(service.outbox, "next_due", fault)
    server = BackgroundServer(create_app(service, access=AccessPolicy.open())).start()
    try:
        service.receive([alert("OverheatCritical", "jbox-0001")])
        wait_for(lambda: fault.raised >= 1)
        health = requests.get(server.url + "/health", timeout=5)
        [loop] = health.json()["loops"]
        assert health.status_code == 503 and loop.startswith("loop send-hook/webhook[0] failing")
        assert loop.endswith("OperationalError: disk I/O error")
        assert loop_errors(server.url, "send-hook/webhook[0]") >= 1
        fault.broken.clear()
        assert len(webhook.wait_for(1)) == 1  # the notification waited in the outbox, then went out
        wait_for(lambda: requests.get(server.url + "/health", timeout=5).status_code == 200)
    finally:
        server.stop()


def test_a_grouper_tick_that_raises_is_counted_and_the_group_flushed_after(webhook, service_factory, monkeypatch):
    service = service_factory({**ROUTE, "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook.url}]}]})
    fault = RaiseWhile(service.dispatcher.tick, RuntimeError("dict changed size during iteration"))
    monkeypatch.setattr(service.dispatcher, "tick", fault)
    server = BackgroundServer(create_app(service, access=AccessPolicy.open())).start()
    try:
        service.receive([alert("OverheatCritical", "jbox-0001")])
        wait_for(lambda: loop_errors(server.url, "grouper") >= 1)
        assert "loop grouper failing" in requests.get(server.url + "/health", timeout=5).json()["status"]
        fault.broken.clear()
        assert len(webhook.wait_for(1)) == 1
        wait_for(lambda: requests.get(server.url + "/health", timeout=5).status_code == 200)
    finally:
        server.stop()
