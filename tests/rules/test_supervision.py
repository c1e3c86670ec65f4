"""A rule whose evaluation raises is a failed evaluation of that rule (metric, /health 503, rules API);
the other rules go on. A scheduled group job that raises is counted and restarted by the scheduler."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from config.rules import RulesConfig
from inventory import Box
from inventory.access import AccessPolicy
from jboxmon.httpserver import BackgroundServer
from rules.api import create_app
from rules.conditions.threshold import ThresholdSpec
from rules.service import RulesService
from storage.lineprotocol import encode_point

RULES = """groups:
  - name: box
    interval: 1s
    rules:
      - alert: Hot
        condition: {threshold: {field: temp_max_c, aggregate: max, window: 1m, op: ">", value: 55}}
      - alert: Empty
        condition: {threshold: {field: soc_pct, aggregate: min, window: 1m, op: "<", value: 10}}
"""
FROZEN = ValueError("Can only compare identically-labeled DataFrame objects")


def write(influx) -> None:
    at = time.time_ns() - 5 * 10**9
    influx.write([encode_point("telemetry", {"jbox_id": "jbox-1"}, {"temp_max_c": 60.0, "soc_pct": 5.0}, at)])


def service_for(tmp_path: Path, influx, inventory) -> RulesService:
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(RULES)
    config = RulesConfig(files=[str(rule_file)], state_db=tmp_path / "state.sqlite", reload_every=60)
    return RulesService(config, influx.query, inventory)


def sample(service: RulesService, name: str, labels: dict) -> float:
    return service.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_rule_that_raises_fails_alone_is_counted_and_reported(tmp_path, influx, monkeypatch) -> None:
    write(influx)
    service = service_for(tmp_path, influx, lambda: [Box("jbox-1")])
    broken = threading.Event()
    broken.set()
    evaluate = ThresholdSpec.evaluate

    def hot_raises(self, frame, eval_times, step_s, ctx):  # the seam: one condition raising, as `frozen` did
        if self.field == "temp_max_c" and broken.is_set():
            raise FROZEN
        return evaluate(self, frame, eval_times, step_s, ctx)

    monkeypatch.setattr(ThresholdSpec, "evaluate", hot_raises)
    service.start()
    http = BackgroundServer(create_app(service, access=AccessPolicy.open()), "127.0.0.1", 0).start()
    try:
        now = time.time() + 5  # ahead of the scheduler's own steps: this test's steps are its own
        service.evaluate_group("box", now)
        assert sample(service, "jboxmon_rules_evaluation_failures_total", {"rule": "box/Hot"}) >= 1
        assert [a.name for a in service.current.snapshot()] == ["Empty"]  # the other rule went on
        health = requests.get(http.url + "/health", timeout=5)
        assert health.status_code == 503
        assert health.json()["problems"] == [
            "rule box/Hot: last evaluation failed: ValueError: Can only compare identically-labeled DataFrame objects"
        ]
        rules = requests.get(http.url + "/api/v1/rules", timeout=5).json()["data"]["groups"][0]["rules"]
        assert [(r["name"], r["health"]) for r in rules] == [("Hot", "err"), ("Empty", "ok")]
        assert rules[0]["lastError"].startswith("ValueError: Can only compare")
        assert rules[0]["failedEvaluations"] >= 1 and rules[1]["failedEvaluations"] == 0
        broken.clear()
        service.evaluate_group("box", now + 1)
        assert requests.get(http.url + "/health", timeout=5).status_code == 200
        assert sorted(a.name for a in service.current.snapshot()) == ["Empty", "Hot"]
    finally:
        http.stop()
        service.stop()


def test_a_scheduled_group_that_raises_is_counted_named_and_runs_again(tmp_path, influx) -> None:
    write(influx)
    failures = [OSError("registry locked")] * 2

    def inventory() -> list[Box]:
        if failures:
            raise failures.pop()
        return [Box("jbox-1")]

    service = service_for(tmp_path, influx, inventory)
    service.start()
    try:
        deadline = time.monotonic() + 10
        while not service.problems() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.problems()[0].startswith("loop group:box failing")
        assert "OSError: registry locked" in service.problems()[0]
        while (failures or service.problems()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.problems() == []
        assert sample(service, "jboxmon_rules_loop_errors_total", {"loop": "group:box"}) == 2
        assert sorted(a.name for a in service.current.snapshot()) == ["Empty", "Hot"]
    finally:
        service.stop()
