"""Fleet inventory, fault plan and ground truth: determinism, exact faulty share, transients."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from simulator.engine import FleetSimulator
from simulator.faults import KINDS, TRANSIENT
from simulator.fleet import REGIONS, SERVICES
from simulator.lineprotocol import LineEncoder
from tests.simulator.conftest import START_MS, small_scenario


def _truth(scenario, tmp_path, name: str) -> bytes:
    return scenario.plan.write_ground_truth(tmp_path / name).read_bytes()


def _lines(scenario) -> list[str]:
    encoder = LineEncoder(scenario.fleet)
    lines: list[str] = []
    for step in FleetSimulator(scenario).steps():
        lines += encoder.telemetry(step) + encoder.heartbeats(step.heartbeats) + encoder.logs(step.logs)
    return lines


def test_same_seed_same_truth_and_data(tmp_path):
    a, b = small_scenario(seed=11, hours=0.5), small_scenario(seed=11, hours=0.5)
    assert _truth(a, tmp_path, "a") == _truth(b, tmp_path, "b")
    lines = _lines(a)
    assert len(lines) > 10_000
    assert lines == _lines(b)
    # Replaying the same scenario object gives the same data too (fresh random streams per run).
    assert _lines(a) == lines


def test_different_seed_differs(tmp_path):
    a, b = small_scenario(seed=11, hours=0.5), small_scenario(seed=12, hours=0.5)
    assert _truth(a, tmp_path, "a") != _truth(b, tmp_path, "b")
    assert _lines(a) != _lines(b)


@pytest.mark.parametrize(("boxes", "rate"), [(10, 0.1), (50, 0.1), (73, 0.1), (200, 0.05), (1000, 0.1), (37, 0.3)])
def test_faulty_share_is_exactly_the_rate(boxes, rate):
    scenario = small_scenario(boxes=boxes, fault_rate=rate, hours=1.5)
    real = [e for e in scenario.plan.events if e.should_alert]
    assert len(real) == round(rate * boxes)
    assert len({e.jbox_id for e in real}) == len(real)  # one fault per box
    assert {e.kind for e in real} <= set(KINDS)
    if len(real) >= len(KINDS):
        assert {e.kind for e in real} == set(KINDS)


def test_transients_are_short_and_only_on_healthy_boxes():
    scenario = small_scenario(boxes=400, hours=1.0, transient_rate=0.1)
    events = scenario.plan.events
    faulty = {e.jbox_id for e in events if e.should_alert}
    transients = [e for e in events if e.kind == TRANSIENT]
    assert len(transients) == round(0.1 * (400 - len(faulty)))
    for event in transients:
        assert not event.should_alert
        assert event.jbox_id not in faulty
        assert 20_000 <= event.end_ms - event.start_ms < 180_000


def test_faults_fit_the_window_and_last_long_enough():
    scenario = small_scenario(boxes=300, hours=1.0)
    window = scenario.window
    for event in scenario.plan.events:
        assert window.start_ms + 300_000 <= event.start_ms < event.end_ms <= window.end_ms
        if event.kind == "silent":
            assert event.end_ms - event.start_ms >= 4_200_000 or event.end_ms == window.end_ms
        elif event.should_alert:
            assert event.end_ms - event.start_ms >= 600_000


def test_ground_truth_lines(tmp_path):
    scenario = small_scenario(boxes=100)
    path = scenario.plan.write_ground_truth(tmp_path / "gt" / "truth.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == len(scenario.plan.events)
    stuck = [r for r in records if r["kind"] == "power_stuck"]
    assert stuck and all(300 <= abs(r["stuck_kw"]) <= 900 for r in stuck)
    for record in records:
        assert {"jbox_id", "kind", "start", "end", "should_alert"} <= record.keys()
        assert record["start"].endswith("Z") and record["end"].endswith("Z")
        start = datetime.fromisoformat(record["start"].replace("Z", "+00:00"))
        assert start.timestamp() * 1000 >= START_MS


def test_inventory():
    fleet = small_scenario(boxes=200).fleet
    assert fleet.ids[0] == "jbox-0001" and fleet.ids[-1] == "jbox-0200"
    assert len(set(fleet.sites)) == 40  # ~5 boxes per site
    assert set(fleet.regions) <= set(REGIONS)
    services = [fleet.service_name(i) for i in range(len(fleet))]
    assert set(services) == set(SERVICES)
    assert services.count("afrr") == 50 and services.count("idle") == 10  # default 25% / 5%
    assert int((fleet.payload_version == 2).sum()) == 120  # default v2_share 0.6
    assert all(
        fw.startswith("2.") == (v == 2) for fw, v in zip(fleet.fw_version, fleet.payload_version.tolist(), strict=True)
    )
    # Boxes of one site are in one region.
    by_site: dict[str, set[str]] = {}
    for site, region in zip(fleet.sites, fleet.regions, strict=True):
        by_site.setdefault(site, set()).add(region)
    assert all(len(regions) == 1 for regions in by_site.values())
