"""Crash and scale: SIGKILL with a full outbox loses and duplicates nothing; a fleet-wide outage of
10,000 boxes becomes a handful of grouped notifications within group_wait + 5 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from storage.server import free_port
from tests.alerting.conftest import alert

ROOT = Path(__file__).resolve().parents[2]
GROUPS = 20


def _start(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "jboxmon.cli", "--config", str(config), "alerting"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _wait_up(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def _depth(url: str) -> int:
    return requests.get(url + "/api/v2/status", timeout=5).json()["outbox"]["depth"]


def test_sigkill_with_full_outbox_loses_and_duplicates_nothing(tmp_path: Path, webhook) -> None:
    port = free_port()
    config = tmp_path / "jboxmon.yaml"
    config.write_text(
        "auth: {mode: none}\n"  # loopback; these tests are about the outbox
        f"alerting:\n  listen: 127.0.0.1:{port}\n  outbox: {tmp_path}/outbox.sqlite\n"
        f"  silences: {tmp_path}/silences.sqlite\n  history: {tmp_path}/history.sqlite\n"
        "  retry: {initial: 200ms, max: 1s}\n"
        "  route: {receiver: hook, group_by: [alertname], group_wait: 200ms, group_interval: 1s}\n"
        f"  receivers:\n    - name: hook\n      webhook_configs: [{{url: '{webhook.url}'}}]\n"
    )
    url = f"http://127.0.0.1:{port}"
    batch = [alert(f"Fault{g:02d}", f"jbox-{b:04d}") for g in range(GROUPS) for b in range(3)]
    webhook.status = 503  # the receiver is down: everything piles up in the outbox
    process = _start(config)
    try:
        _wait_up(url)
        requests.post(url + "/api/v2/alerts", json=batch, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _depth(url) < GROUPS:
            time.sleep(0.1)
        assert _depth(url) == GROUPS
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        webhook.status = 200
        process = _start(config)
        _wait_up(url)
        requests.post(url + "/api/v2/alerts", json=batch, timeout=10).raise_for_status()  # producers re-send
        webhook.wait_for(GROUPS, timeout_s=30)
        time.sleep(3)  # a few group intervals: the re-sent alerts must not be notified again
        assert _depth(url) == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    groups = [p["groupLabels"]["alertname"] for p in webhook.payloads]
    assert sorted(groups) == [f"Fault{g:02d}" for g in range(GROUPS)]  # each group exactly once
    assert len(webhook.unique_keys()) == GROUPS == len(webhook.requests)
    assert all(len(p["alerts"]) == 3 for p in webhook.payloads)


def test_sigkill_during_delivery_repeats_only_keys_already_seen(tmp_path: Path, webhook) -> None:
    """Killed while notifications are on the wire: after restart every group arrives, and a repeat can
    only be the one in flight, under the same idempotency key (so the receiver can drop it)."""
    port = free_port()
    config = tmp_path / "jboxmon.yaml"
    config.write_text(
        "auth: {mode: none}\n"  # loopback; these tests are about the outbox
        f"alerting:\n  listen: 127.0.0.1:{port}\n  outbox: {tmp_path}/outbox.sqlite\n"
        f"  silences: {tmp_path}/silences.sqlite\n  history: {tmp_path}/history.sqlite\n"
        "  retry: {initial: 200ms, max: 1s}\n"
        "  route: {receiver: hook, group_by: [alertname], group_wait: 200ms, group_interval: 1s}\n"
        f"  receivers:\n    - name: hook\n      webhook_configs: [{{url: '{webhook.url}'}}]\n"
    )
    url = f"http://127.0.0.1:{port}"
    batch = [alert(f"Fault{g:02d}", f"jbox-{b:04d}") for g in range(GROUPS) for b in range(2)]
    webhook.delay_s = 0.3
    process = _start(config)
    try:
        _wait_up(url)
        requests.post(url + "/api/v2/alerts", json=batch, timeout=10).raise_for_status()
        webhook.wait_for(3, timeout_s=30)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        webhook.delay_s = 0.0
        process = _start(config)
        _wait_up(url)
        requests.post(url + "/api/v2/alerts", json=batch, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(webhook.unique_keys()) < GROUPS:
            time.sleep(0.1)
        time.sleep(3)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert len(webhook.unique_keys()) == GROUPS  # every group's notification, none made twice
    assert sorted({p["groupLabels"]["alertname"] for p in webhook.payloads}) == [f"Fault{g:02d}" for g in range(GROUPS)]
    assert len(webhook.requests) <= GROUPS + 1  # at most the one in flight at the kill went out again


def test_fleet_wide_outage_is_a_handful_of_notifications(webhook, service_factory) -> None:
    service = service_factory(
        {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname", "region"],
                "group_wait": "2s",
                "group_interval": "1m",
            },
            "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook.url, "max_alerts": 100}]}],
        }  # fmt: skip
    )
    regions = ["IDF", "ARA", "OCC", "BRE", "HDF", "NAQ", "PAC", "GES"]
    fleet = [alert("JBoxSilent", f"jbox-{i:05d}", region=regions[i % len(regions)]) for i in range(10_000)]
    started = time.monotonic()
    service.receive(fleet)
    received = webhook.wait_for(len(regions), timeout_s=2 + 5)
    elapsed = time.monotonic() - started
    time.sleep(1)
    assert len(webhook.payloads) == len(regions), f"{len(webhook.payloads)} notifications"
    assert elapsed <= 2 + 5, f"took {elapsed:.1f}s"
    assert sum(len(p["alerts"]) + p["truncatedAlerts"] for p in received) == 10_000
    assert {p["groupLabels"]["region"] for p in received} == set(regions)


def test_sighup_reloads_the_alerting_section(tmp_path: Path, webhook) -> None:
    """``jboxmon alerting`` picks up a receiver switched back on at SIGHUP, without a restart."""
    port = free_port()
    config = tmp_path / "jboxmon.yaml"

    def write(disabled: bool) -> None:
        config.write_text(
            "auth: {mode: none}\n"  # loopback; these tests are about the outbox
        f"alerting:\n  listen: 127.0.0.1:{port}\n  outbox: {tmp_path}/outbox.sqlite\n"
            f"  silences: {tmp_path}/silences.sqlite\n  history: {tmp_path}/history.sqlite\n"
            "  route: {receiver: hook, group_by: [alertname], group_wait: 200ms, group_interval: 1s}\n"
            f"  receivers:\n    - name: hook\n      disabled: {str(disabled).lower()}\n"
            f"      webhook_configs: [{{url: '{webhook.url}'}}]\n"
        )

    write(disabled=True)
    url = f"http://127.0.0.1:{port}"
    process = _start(config)
    try:
        _wait_up(url)
        requests.post(url + "/api/v2/alerts", json=[alert("A", "jbox-0001")], timeout=10).raise_for_status()
        time.sleep(1.5)
        assert webhook.requests == []  # switched off
        write(disabled=False)
        process.send_signal(signal.SIGHUP)
        assert len(webhook.wait_for(1, timeout_s=20)) == 1
        assert process.poll() is None  # the same process, not a restart
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
