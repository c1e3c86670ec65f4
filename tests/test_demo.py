"""The demo's own settings: rules that fire and resolve within its five minutes, alerting timers to
match, and links that go to its status page (the demo itself is run by hand: `make demo`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config import load_config
from jboxmon import demo
from rules.loader import load_rules


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(demo, "VAR", tmp_path)
    return tmp_path


def test_demo_rules_are_the_default_rules_with_short_timers(var: Path) -> None:
    path = demo.write_demo_rules()
    groups = load_rules([path])  # a valid rule file
    rules = {rule.alert: rule for group in groups for rule in group.rules}
    default = yaml.safe_load((Path(demo.__file__).parent.parent / "rules/default/jbox.yaml").read_text())
    assert set(rules) == {r["alert"] for g in default["groups"] for r in g["rules"]}
    assert all(rule.for_ <= 60 for rule in rules.values()), {a: r.for_ for a, r in rules.items()}
    assert rules["SetpointNotFollowed"].for_ == 60 and rules["SetpointNotFollowed"].keep_firing_for == 30
    assert rules["OverheatCritical"].for_ == 30


def test_demo_config_links_to_its_status_page_and_notifies_fast(var: Path) -> None:
    path = demo.write_config("http://127.0.0.1:1", 2001, 2002, 2003, 2025, "http://127.0.0.1:2004/hook", 2006)
    config = load_config(path)
    assert config.alerting.external_url == "http://127.0.0.1:2006"  # the status page, not the alerting API
    assert (config.alerting.route.group_wait, config.alerting.route.group_interval) == (10, 30)
    assert [Path(f) for f in config.rules.files] == [var / "demo-rules.yaml"]
