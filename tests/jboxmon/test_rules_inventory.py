"""The rules engine's view of the fleet: listed again when the registry changed, not at every evaluation."""

from __future__ import annotations

from pathlib import Path

from config import load_config
from inventory import Box, Registry
from jboxmon.rules_component import RulesComponent
from storage import InfluxClient, InfluxSettings


def _component(tmp_path: Path) -> RulesComponent:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        "auth: {mode: none}\n"
        "influxdb: {url: 'http://127.0.0.1:9', database: fleet}\n"
        f"inventory: {{path: {tmp_path}/registry.sqlite}}\n"
        f"rules: {{state_db: {tmp_path}/state.sqlite, listen: '127.0.0.1:0'}}\n"
    )
    config = load_config(path)
    return RulesComponent(config, InfluxClient(InfluxSettings.from_config(config.influxdb)))


def test_a_box_registered_between_two_evaluations_is_seen_by_the_next_and_the_list_is_read_once(tmp_path) -> None:
    rules = _component(tmp_path)
    rules.registry.open()
    listed = []
    boxes = rules.registry.boxes
    rules.registry.boxes = lambda: listed.append(1) or boxes()  # type: ignore[method-assign]
    assert rules.inventory() == []
    with Registry(tmp_path / "registry.sqlite") as operator:  # another process's verb: the change counter moves
        operator.issue_many([Box("jbox-0007", "site-1", "IDF", "fcr")])
    assert [(b.jbox_id, b.region) for b in rules.inventory()] == [("jbox-0007", "IDF")]
    for _ in range(5):  # nothing changed: the registry is not listed again
        rules.inventory()
    assert len(listed) == 2
