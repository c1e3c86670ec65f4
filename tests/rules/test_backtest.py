"""``jboxmon rules backtest``: the real state machine replayed over simulated history in a real InfluxDB.

The scoring definitions (episodes, lag, warm-up, detectable faults) are tested on hand-made episodes;
the replay is tested end to end on a simulated fleet whose ground truth says what should fire.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from config.model import InfluxDBConfig
from inventory import Box, Registry
from jboxmon.cli import main
from rules.backtest import (
    NS,
    Episode,
    Fault,
    Timing,
    count_flaps,
    parse_matches,
    score_rule,
)
from rules.state import AlertState, Transition
from rules.timeline import AlertTimeline
from simulator.backfill import run_backfill
from simulator.scenario import build_scenario
from simulator.window import SimWindow, rfc3339
from storage import InfluxClient, InfluxSettings

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules" / "default" / "jbox.yaml"
MIN = 60 * NS


# -- scoring on hand-made episodes ----------------------------------------------------------------

T1 = 1_000_000 * NS  # replay start
SPNF = Timing(interval=10 * NS, for_=180 * NS, window=20 * NS)  # SetpointNotFollowed's timing


def fault(box: str, start_min: float, end_min: float, kind: str = "power_stuck", alert: bool = True, **details):
    details_items = tuple(sorted((k, str(v)) for k, v in details.items()))
    return Fault(box, kind, T1 + int(start_min * MIN), T1 + int(end_min * MIN), alert, details_items)


def episode(box: str, start_min: float, end_min: float | None) -> Episode:
    return Episode(box, T1 + int(start_min * MIN), None if end_min is None else T1 + int(end_min * MIN))


def test_matching_precision_recall_delay_on_hand_made_episodes():
    faults = [
        fault("a", 10, 30),  # detected 3m10s after its start
        fault("b", 10, 20),  # detected within the lag: 20m + 3m + 20s + 20s
        fault("c", 40, 60),  # missed
        fault("d", 0.1, 20),  # starts in the warm-up (20 s): not detectable, though its alert is a TP
        fault("e", 118, 130),  # too late: 118m + 3m + 20s + 10s > T2 = 120m
        fault("f", 10, 30, kind="overheat"),  # another kind: the episode on f is a false positive
        fault("g", 50, 52, kind="transient_deviation", alert=False),
    ]
    episodes = [
        episode("a", 10 + 19 / 6, 31),
        episode("b", 23.5, 25),
        episode("d", 0, 21),  # started in the warm-up: not scored
        episode("f", 12, 15),
        episode("g", 53, 55),  # on a transient, within the lag
        episode("z", 70, None),  # no fault at all, still firing at T2
    ]
    score = score_rule(episodes, faults, ["power_stuck"], SPNF, T1, T1 + 120 * MIN)
    assert score["scored_episodes"] == 5
    assert score["true_positives"] == 2  # a and b
    assert score["precision"] == pytest.approx(2 / 5)
    assert (score["faults"], score["excluded_early"], score["excluded_late"], score["detectable"]) == (5, 1, 1, 3)
    assert score["detected"] == 2 and score["recall"] == pytest.approx(2 / 3)
    assert score["delay_s"]["max"] == pytest.approx(13.5 * 60)
    assert score["delay_s"]["mean"] == pytest.approx((190 + 13.5 * 60) / 2)
    assert (score["transients"], score["transients_alerted"]) == (1, 1)


def test_an_alert_starting_after_the_lag_does_not_match():
    faults = [fault("b", 10, 20)]
    lag_end = 20 + SPNF.lag / MIN
    just_in = score_rule([episode("b", lag_end - 0.1, lag_end + 5)], faults, ["power_stuck"], SPNF, T1, T1 + 60 * MIN)
    too_late = score_rule([episode("b", lag_end, lag_end + 5)], faults, ["power_stuck"], SPNF, T1, T1 + 60 * MIN)
    assert just_in["true_positives"] == 1 and too_late["true_positives"] == 0


def test_an_alert_already_firing_when_the_fault_starts_has_zero_delay():
    score = score_rule([episode("a", 5, 40)], [fault("a", 10, 30)], ["power_stuck"], SPNF, T1, T1 + 60 * MIN)
    assert score["recall"] == 1.0 and score["delay_s"]["max"] == 0


def test_kind_qualifiers_tell_a_low_drift_from_a_high_one():
    faults = [
        fault("a", 10, 40, kind="soc_drift", direction="low"),
        fault("b", 10, 40, kind="soc_drift", direction="high"),
    ]
    timing = Timing(interval=60 * NS, for_=300 * NS, window=300 * NS)
    episodes = [episode("a", 30, 40), episode("b", 30, 40)]
    low = score_rule(episodes, faults, ["soc_drift[direction=low]"], timing, T1, T1 + 120 * MIN)
    assert (low["true_positives"], low["detectable"], low["detected"]) == (1, 1, 1)
    both = score_rule(episodes, faults, ["soc_drift"], timing, T1, T1 + 120 * MIN)
    assert (both["true_positives"], both["detectable"]) == (2, 2)


def test_flaps_count_refiring_within_ten_minutes_on_the_same_box():
    episodes = [
        episode("a", 0, 5),
        episode("a", 10, 12),  # 5 min after the previous one resolved: a flap
        episode("a", 30, None),  # 18 min after: not a flap
        episode("b", 6, 8),  # another box
    ]
    assert count_flaps(episodes) == 1


def test_match_arguments_extend_and_override_the_defaults():
    alerts = {"SetpointNotFollowed", "JBoxSilent", "Custom"}
    kinds = {"power_stuck", "silent", "overheat"}
    matches = parse_matches(["JBoxSilent=silent,overheat", "Custom=power_stuck"], alerts, kinds)
    assert matches["JBoxSilent"] == ("silent", "overheat") and matches["Custom"] == ("power_stuck",)
    assert matches["SetpointNotFollowed"] == ("power_stuck", "setpoint_not_followed")
    for bad, message in [
        ("JBoxSilent", "expected ALERT=KIND[,KIND]"),
        ("Nope=silent", "no rule alerts 'Nope'"),
        ("JBoxSilent=slient", "unknown fault kind 'slient'"),
        ("JBoxSilent=silent[oops", "expected KIND or KIND[key=value]"),
    ]:
        with pytest.raises(ValueError, match=message.replace("[", r"\[")):
            parse_matches([bad], alerts, kinds)


def test_fleet_rules_see_the_box_alerts_firing_at_their_evaluation_time():
    timeline = AlertTimeline()
    spnf = "SetpointNotFollowed"
    for key, at, to in [("a", 0, "firing"), ("b", 5, "firing"), ("a", 10, "resolved")]:
        timeline.record(spnf, Transition(key, to, T1 + at * MIN, AlertState(key, "firing", T1)))
    timeline.forget_before(T1)
    seen = {minute: timeline.firing_at(T1 + minute * MIN, {spnf})[spnf] for minute in (1, 7, 10, 12)}
    assert seen == {1: {"a"}, 7: {"a", "b"}, 10: {"b"}, 12: {"b"}}
    timeline.forget_before(T1 + 10 * MIN)  # a's interval ended: forgotten, b still open
    assert timeline.firing_at(T1 + 7 * MIN) == {spnf: {"b"}}


# -- end to end on a simulated fleet ---------------------------------------------------------------

BOXES, HOURS, SEED = 100, 3, 3


@pytest.fixture(scope="module")
def history(influx_server, tmp_path_factory):
    """A simulated fleet's 3 h of history (ending this hour: inside every retention policy)."""
    tmp = tmp_path_factory.mktemp("backtest")
    database = f"test_{uuid.uuid4().hex[:12]}"
    settings = InfluxSettings.from_config(InfluxDBConfig(url=influx_server.url, database=database))
    window = SimWindow.ending_at_hour(datetime.now(UTC), HOURS * 3600, 10)
    scenario = build_scenario(boxes=BOXES, seed=SEED, window=window, fault_rate=0.3, transient_rate=0.2)
    config = tmp / "jboxmon.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "influxdb": {"url": settings.url, "database": settings.database},
                "inventory": {"path": str(tmp / "registry.sqlite")},  # absent: the data is the inventory
            }
        )
    )
    with InfluxClient(settings) as client:
        client.create_database()
        run_backfill(scenario, lambda: InfluxClient(settings))
        yield {
            "config": config,
            "truth": scenario.plan.write_ground_truth(tmp / "truth.jsonl"),
            "scenario": scenario,
            "from": rfc3339(window.start_ms),
            "to": rfc3339(window.end_ms),
            "tmp": tmp,
        }
        client.execute(f'DROP DATABASE "{settings.database}"', database="")


def _backtest(capsys, history, *extra: str) -> tuple[int, str, str]:
    argv = ["--config", str(history["config"]), "rules", "backtest", "--rules", str(DEFAULT_RULES)]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_backtest_of_the_default_rules_on_simulated_faults(capsys, history):
    code, out, err = _backtest(
        capsys, history, "--from", history["from"], "--to", history["to"], "--truth", str(history["truth"]), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["boxes"] == BOXES and report["inventory"].startswith("data")
    rules = {rule["alert"]: rule for rule in report["rules"]}

    spnf = rules["SetpointNotFollowed"]
    assert spnf["detectable"] >= 5
    assert spnf["precision"] >= 0.99 and spnf["recall"] == 1.0
    # A constant offset against the setpoint is seen at the first evaluation after the fault starts,
    # then fires after `for`. (A stuck reading may pass near a moving aFRR setpoint: later is fine.)
    offsets = [f["delay_s"] for f in spnf["detectable_faults"] if f["kind"] == "setpoint_not_followed"]
    assert offsets and max(offsets) <= spnf["for_s"] + spnf["interval_s"]
    assert spnf["transients"] >= 5 and spnf["transients_alerted"] == 0

    silent = [rules["JBoxSilent"], rules["TelemetryStale"]]
    assert sum(rule["detectable"] for rule in silent) >= 2
    for rule in silent:
        assert rule["precision"] is None or rule["precision"] >= 0.99, rule
        assert rule["recall"] is None or rule["recall"] == 1.0, rule
    # The replay starts where the data starts: no box has been silent for longer than the data
    # exists, so boxes whose hourly heartbeat is not yet in the window do not fire at T1.
    assert report["data"]["first_point"] == history["from"] and not report["warnings"]
    assert rules["JBoxSilent"]["warm_up_alerts"] == 0 and rules["TelemetryStale"]["warm_up_alerts"] == 0
    # every episode is listed, and each scored one says which fault it matched or that it was a false alarm
    listed = [e for e in report["episodes"] if e["alert"] == "SetpointNotFollowed"]
    assert len(listed) == spnf["alerts"]
    assert all(e["match"].split("@")[0] in ("power_stuck", "setpoint_not_followed") for e in listed), listed
    assert all(e["peak"] is not None and e["peak"] > 50 for e in listed)
    assert rules["FleetFaultShareHigh"]["scope"] == "fleet" and "precision" not in rules["FleetFaultShareHigh"]


def test_text_report_and_registry_inventory(capsys, history):
    """With a registry, its boxes are the inventory: a registered box that never reported is silent."""
    boxes = [Box(jbox_id) for jbox_id in history["scenario"].fleet.ids] + [Box("jbox-never-seen")]
    with Registry(Path(history["config"]).parent / "registry.sqlite") as registry:
        registry.issue_many(boxes)
    try:
        end = history["to"]
        start = rfc3339(history["scenario"].window.end_ms - 20 * 60_000)
        code, out, err = _backtest(capsys, history, "--from", start, "--to", end)
    finally:
        (Path(history["config"]).parent / "registry.sqlite").unlink()
    assert code == 0, err
    assert f"{BOXES + 1} boxes (registry" in out
    stale = next(line for line in out.splitlines() if line.startswith("liveness/TelemetryStale"))
    assert int(stale.split()[1]) >= 1  # at least the box that never reported
    assert "precision" not in out.splitlines()[2]  # no ground truth: counts only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday", "--to", "2025-11-29T16:00:00Z"], "--from: expected an ISO-8601 time"),
        (["--from", "2025-11-29T16:00:00Z", "--to", "2025-11-29T15:00:00Z"], "must be after --from"),
        (
            ["--from", "2025-11-29T15:00:00Z", "--to", "2025-11-29T16:00:00Z", "--match", "Nope=silent"],
            "no rule alerts 'Nope'",
        ),
        (
            ["--from", "2025-11-29T15:00:00Z", "--to", "2025-11-29T16:00:00Z", "--truth", "/nonexistent.jsonl"],
            "--truth /nonexistent.jsonl: cannot read it",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_pointed_message(capsys, history, args, message):
    code, _, err = _backtest(capsys, history, *args)
    assert code == 2
    assert message in err


def test_influxdb_down_exits_1(capsys, tmp_path):
    from storage.server import free_port

    config = tmp_path / "jboxmon.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "influxdb": {"url": f"http://127.0.0.1:{free_port()}", "timeout": "2s"},
                "inventory": {"path": str(tmp_path / "none.sqlite")},
            }
        )
    )
    code = main(
        [
            "--config",
            str(config),
            "rules",
            "backtest",
            "--rules",
            str(DEFAULT_RULES),
            "--from",
            "2025-11-29T15:00:00Z",
            "--to",
            "2025-11-29T16:00:00Z",
        ]
    )
    assert code == 1
    assert "InfluxDB" in capsys.readouterr().err


def test_a_window_without_data_warns_and_exits_3(capsys, history):
    code, out, err = _backtest(capsys, history, "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-01T01:00:00Z")
    assert code == 3
    assert "warning: no data in the window 2020-01-01T00:00:00Z .. 2020-01-01T01:00:00Z" in err
    assert "warning: no registry at" in err  # the data inventory is said, not silently chosen


def test_episodes_as_csv_name_box_rule_times_peak_and_match(capsys, history):
    code, out, err = _backtest(
        capsys, history, "--from", history["from"], "--to", history["to"], "--truth", str(history["truth"]), "--csv"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["rule", "alert", "jbox_id", "start", "end", "duration_s", "peak", "match"]
    truth = [json.loads(line) for line in Path(history["truth"]).read_text().splitlines()]
    stuck = {(f["jbox_id"], f["start"]) for f in truth if f["kind"] == "power_stuck"}
    matched = {(r["jbox_id"], r["match"].split("@")[1]) for r in rows if r["match"].startswith("power_stuck@")}
    assert matched and matched <= stuck
    assert not [r for r in rows if r["match"] == "false alarm"], "the shipped rules gave a false alarm"


def test_a_box_registered_mid_window_that_never_reports_fires_after_the_duration(capsys, history):
    """Registered 30 minutes into the window, silent: TelemetryStale 5 minutes later, JBoxSilent never
    (65 minutes have not passed); registered after the window: known from T1."""
    registry_path = Path(history["config"]).parent / "registry.sqlite"
    start_ms = history["scenario"].window.end_ms - 60 * 60_000
    clock = [start_ms / 1000 + 30 * 60]
    with Registry(registry_path, clock=lambda: clock[0]) as registry:
        registry.issue_many([Box(jbox_id) for jbox_id in history["scenario"].fleet.ids] + [Box("jbox-mid")])
        clock[0] = time.time() + 3600
        registry.issue("jbox-after")
    try:
        code, out, err = _backtest(capsys, history, "--from", rfc3339(start_ms), "--to", history["to"], "--json")
    finally:
        registry_path.unlink()
    assert code == 0, err
    episodes = json.loads(out)["episodes"]
    firing = {(e["alert"], e["jbox_id"]): e["start"] for e in episodes if e["jbox_id"] in ("jbox-mid", "jbox-after")}
    assert firing[("TelemetryStale", "jbox-mid")] == rfc3339(start_ms + 35 * 60_000)
    assert firing[("TelemetryStale", "jbox-after")] == rfc3339(start_ms + 5 * 60_000)
    assert ("JBoxSilent", "jbox-mid") not in firing and ("JBoxSilent", "jbox-after") not in firing
