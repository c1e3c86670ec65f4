"""The rules service: scheduling, hot reload that survives broken files, history, HTTP API."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from config.rules import RulesConfig
from inventory import Box
from inventory.access import AccessPolicy
from jboxmon.httpserver import BackgroundServer
from rules.api import create_app
from rules.service import RulesService
from rules.sinks import InfluxHistory
from storage.lineprotocol import encode_point

RULE = """groups:
  - name: thermal
    interval: 1s
    rules:
      - alert: Hot
        condition: {threshold: {field: temp_max_c, aggregate: max, window: 1m, op: ">", value: %s}}
        labels: {severity: critical}
        annotations: {summary: "{{ labels.jbox_id }} at {{ value }}"}
"""


def write_temps(influx, temps: dict[str, float]) -> None:
    now = time.time_ns()
    influx.write(
        [encode_point("telemetry", {"jbox_id": b}, {"temp_max_c": v}, now - 5 * 10**9) for b, v in temps.items()]
    )


class Memory:
    def __init__(self) -> None:
        self.batches = []

    def send(self, alerts) -> None:
        self.batches.append(alerts)


def make_service(
    tmp_path: Path, influx, threshold: str = "55", clock=time.time, **config
) -> tuple[RulesService, Path, Memory]:
    rule_file = tmp_path / "thermal.yaml"
    rule_file.write_text(RULE % threshold)
    sink = Memory()
    cfg = RulesConfig(files=[str(rule_file)], state_db=tmp_path / "state.sqlite", reload_every=1, **config)
    inventory = [Box("jbox-1"), Box("jbox-2")]
    service = RulesService(
        cfg, influx.query, lambda: inventory, history=InfluxHistory(influx), sinks=[sink], clock=clock
    )
    return service, rule_file, sink


def test_scheduler_evaluates_and_alerts_reach_sinks_and_history(tmp_path, influx) -> None:
    write_temps(influx, {"jbox-1": 60.0, "jbox-2": 30.0})
    service, _, sink = make_service(tmp_path, influx)
    service.start()
    try:
        deadline = time.monotonic() + 10
        while not any(batch for batch in sink.batches) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop()
    alerts = next(batch for batch in sink.batches if batch)
    assert [(a.name, a.labels["jbox_id"], a.status) for a in alerts] == [("Hot", "jbox-1", "firing")]
    assert alerts[0].annotations["summary"] == "jbox-1 at 60.0"
    history = influx.query('SELECT * FROM "alerts"')
    assert set(history["state"]) == {"pending", "firing"} and set(history["jbox_id"]) == {"jbox-1"}


def test_hot_reload_applies_good_files_and_keeps_rules_on_broken_ones(tmp_path, influx) -> None:
    write_temps(influx, {"jbox-1": 60.0, "jbox-2": 50.0})
    now = time.time()
    # the scheduler's own evaluations see a clock stopped at ``now``: on a loaded machine they must not
    # take the step this test evaluates after the reload (a step is evaluated once)
    service, rule_file, _ = make_service(tmp_path, influx, clock=lambda: now)
    service.start()
    try:
        service.evaluate_group("thermal", now)
        assert service.engine.firing_by_alert()["Hot"] == {"jbox-1"}
        rule_file.write_text(RULE % "45")
        assert service.reload() is True
        service.evaluate_group("thermal", now + 1)
        assert service.engine.firing_by_alert()["Hot"] == {"jbox-1", "jbox-2"}  # jbox-1 kept its alert
        rule_file.write_text(RULE % "'hot'")
        assert service.reload() is False
        assert "condition.threshold.value: input should be a valid number" in service.last_reload_error
        service.evaluate_group("thermal", now + 2)  # the previous rules keep running
        assert service.engine.firing_by_alert()["Hot"] == {"jbox-1", "jbox-2"}
        rule_file.write_text(RULE % "55")
        deadline = time.monotonic() + 10  # picked up by the file watcher, no explicit reload
        while service.last_reload_error is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.last_reload_error is None
        assert service.engine.groups[0].rules[0].condition.value == 55
    finally:
        service.stop()


def test_http_api_lists_alerts_rules_and_reload_errors(tmp_path, influx) -> None:
    write_temps(influx, {"jbox-1": 60.0})
    service, rule_file, _ = make_service(tmp_path, influx)
    service.start()
    http = BackgroundServer(create_app(service, access=AccessPolicy.open())).start()
    try:
        service.evaluate_group("thermal", time.time())
        alerts = requests.get(http.url + "/api/v1/alerts").json()["data"]["alerts"]
        assert [(a["labels"]["alertname"], a["labels"]["jbox_id"]) for a in alerts] == [("Hot", "jbox-1")]
        rules = requests.get(http.url + "/api/v1/rules").json()["data"]["groups"][0]["rules"]
        assert rules[0]["name"] == "Hot" and rules[0]["alerts"]["firing"] == 1 and rules[0]["health"] == "ok"
        rule_file.write_text("groups: [")
        response = requests.post(http.url + "/-/reload")
        assert response.status_code == 400 and "invalid YAML" in response.json()["error"]
        assert requests.get(http.url + "/health").json()["status"] == "degraded: last reload failed"
        metrics = requests.get(http.url + "/metrics").text
        assert 'jboxmon_rules_reloads_total{result="failure"} 1.0' in metrics
        assert 'jboxmon_rules_alerts{rule="Hot",state="firing"} 1.0' in metrics
    finally:
        http.stop()
        service.stop()


def test_a_hostile_template_at_reload_keeps_the_rules_and_stops_promptly(tmp_path, influx, caplog) -> None:
    write_temps(influx, {"jbox-1": 60.0})
    service, rule_file, _ = make_service(tmp_path, influx)
    service.start()
    http = BackgroundServer(create_app(service, access=AccessPolicy.open())).start()
    try:
        hostile = '"{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}"'
        rule_file.write_text((RULE % "55").replace('"{{ labels.jbox_id }} at {{ value }}"', hostile))
        started = time.monotonic()
        response = requests.post(http.url + "/-/reload", timeout=30)
        assert time.monotonic() - started < 5
        assert response.status_code == 400 and "(Hot): annotations.summary: template too costly" in response.text
        assert requests.get(http.url + "/health").json()["status"] == "degraded: last reload failed"
        service.evaluate_group("thermal", time.time())  # the previous rules keep running
        assert service.engine.firing_by_alert()["Hot"] == {"jbox-1"}
        time.sleep(2.5)  # the file watcher sees the same broken file: no new log line
        failures = [r for r in caplog.records if "rule reload failed" in r.getMessage()]
        assert len(failures) == 1
    finally:
        http.stop()
        started = time.monotonic()
        service.stop()
        assert time.monotonic() - started < 5


def test_the_scheduler_evaluates_at_the_injected_clock(tmp_path, influx) -> None:
    """Two hours ago, frozen: the scheduled evaluations see that instant's data, and only once."""
    then = (time.time() - 7200) // 60 * 60
    influx.write([encode_point("telemetry", {"jbox_id": "jbox-1"}, {"temp_max_c": 60.0}, int((then - 5) * 1e9))])
    rule_file = tmp_path / "thermal.yaml"
    rule_file.write_text(RULE % "55")
    sink = Memory()
    cfg = RulesConfig(files=[str(rule_file)], state_db=tmp_path / "state.sqlite", reload_every=1)
    service = RulesService(cfg, influx.query, lambda: [Box("jbox-1")], sinks=[sink], clock=lambda: then)
    service.start()
    try:
        deadline = time.monotonic() + 10
        while not sink.batches and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)  # more triggers: the same instant is not evaluated twice
    finally:
        service.stop()
    assert len(sink.batches) == 1
    assert [(a.labels["jbox_id"], a.starts_at.timestamp()) for a in sink.batches[0]] == [("jbox-1", then)]
