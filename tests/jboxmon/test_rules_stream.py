"""`jboxmon rules run` subscribes to InfluxDB's writes and evaluates from them; it says when it cannot."""

from __future__ import annotations

import time
from pathlib import Path

from config import load_config
from inventory import Box, Registry
from jboxmon.rules_component import RulesComponent
from storage import InfluxClient, InfluxSettings

RULES = """\
groups:
  - name: hot
    interval: 2s
    rules:
      - alert: Hot
        condition:
          threshold: {measurement: telemetry, field: temp_max_c, aggregate: max, window: 2s, op: ">", value: 50}
"""


def _component(tmp_path: Path, influx_url: str, database: str) -> RulesComponent:
    (tmp_path / "hot.yaml").write_text(RULES)
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        "auth: {mode: none}\n"
        f"influxdb: {{url: '{influx_url}', database: {database}}}\n"
        f"inventory: {{path: {tmp_path}/registry.sqlite}}\n"
        f"rules: {{files: [{tmp_path}/hot.yaml], state_db: {tmp_path}/state.sqlite, listen: '127.0.0.1:0',\n"
        "        late_data: 1s, write_alerts_to_influxdb: false}\n"
    )
    config = load_config(path)
    return RulesComponent(config, InfluxClient(InfluxSettings.from_config(config.influxdb)))


def test_rules_run_evaluates_from_the_forwarded_writes_and_drops_its_subscription_at_stop(
    tmp_path, influx, influx_config
) -> None:
    with Registry(tmp_path / "registry.sqlite") as registry:
        registry.issue_many([Box("jbox-1", "site-1", "IDF", "fcr")])
    rules = _component(tmp_path, influx_config.url, influx_config.database).start()
    try:
        assert rules.subscription is not None and rules.subscription.active
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = time.time_ns()
            influx.write([f"telemetry,jbox_id=jbox-1 temp_max_c=60.0 {now}"])
            reader = rules.service.engine.reader
            if reader.rows_answered > 0 and "jbox-1" in rules.service.engine.firing_by_alert().get("Hot", set()):
                break
            time.sleep(0.2)
        assert reader.rows_answered > 0, "no read answered by the stream"
        assert rules.stream.lines > 0
        assert "jbox-1" in rules.service.engine.firing_by_alert()["Hot"]
        name = rules.subscription.name
    finally:
        rules.stop()
    subscriptions = influx.query_raw("SHOW SUBSCRIPTIONS")[0].get("series", [])
    assert name not in str(subscriptions)


def test_an_influxdb_elsewhere_without_an_advertised_address_leaves_queries_on(tmp_path, caplog) -> None:
    rules = _component(tmp_path, "http://192.0.2.10:8086", "fleet")
    rules._start_stream()
    assert rules.subscription is None
    assert "rules.stream.advertise" in caplog.text
