"""The rule engine against a real InfluxDB: one query per rule for all boxes, outages, restarts,
absence against the inventory, fleet ratios."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from inventory import Box
from rules.engine import RuleEngine
from rules.model import RuleFile
from rules.store import StateStore
from storage import InfluxError
from storage.lineprotocol import encode_point

S = 1_000_000_000
SHIPPED_RULES = Path(__file__).resolve().parents[2] / "rules" / "default" / "jbox.yaml"
STEP = 10
T0 = (int(time.time()) - 3600) // 60 * 60 * S  # an aligned start, an hour ago

RULES = RuleFile.model_validate(
    {
        "groups": [
            {
                "name": "power",
                "interval": "10s",
                "rules": [
                    {
                        "alert": "SetpointNotFollowed",
                        "for": "30s",
                        "condition": {
                            "deviation": {
                                "field": "p_meas_kw",
                                "reference": "p_setpoint_kw",
                                "absolute": 50,
                                "relative": 0.1,
                                "window": "20s",
                            }
                        },
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "{{ labels.jbox_id }} off by {{ value | round | int }} kW in {{ box.region }}"
                        },
                    },
                    {
                        "alert": "Hot",
                        "condition": {
                            "threshold": {
                                "field": "temp_max_c",
                                "aggregate": "max",
                                "window": "20s",
                                "op": ">",
                                "value": 55,
                            }
                        },
                        "clear": {
                            "threshold": {
                                "field": "temp_max_c",
                                "aggregate": "max",
                                "window": "20s",
                                "op": "<",
                                "value": 50,
                            }
                        },
                    },
                    {
                        "alert": "Silent",
                        "condition": {"absence": {"measurement": "telemetry", "field": "p_meas_kw", "duration": "1m"}},
                    },
                ],
            },
            {
                "name": "fleet",
                "interval": "10s",
                "rules": [
                    {
                        "alert": "ManyFaulty",
                        "condition": {"fleet_ratio": {"alerts": ["SetpointNotFollowed"], "value": 0.3}},
                    },
                ],
            },
        ]
    }
).groups
BOXES = [Box(f"jbox-{i}", region="IDF") for i in range(1, 5)] + [Box("jbox-never", region="ARA")]


def write_history(influx, seconds: int = 180) -> None:
    """jbox-1 deviates from t=60s, jbox-2 is hot (60 then 52 then 45), jbox-3 stops at t=60s, jbox-4 is fine."""
    lines = []
    for k in range(seconds // STEP):
        t = T0 + k * STEP * S
        for box in ("jbox-1", "jbox-2", "jbox-3", "jbox-4"):
            if box == "jbox-3" and k * STEP >= 60:
                continue
            deviating = box == "jbox-1" and k * STEP >= 60
            temp = 30.0 if box != "jbox-2" else (60.0 if k * STEP < 90 else 52.0 if k * STEP < 150 else 45.0)
            fields = {"p_meas_kw": 800.0 if deviating else 100.0, "p_setpoint_kw": 100.0, "temp_max_c": temp}
            lines.append(encode_point("telemetry", {"jbox_id": box}, fields, t))
    influx.write(lines)


def at(seconds: int) -> int:
    return T0 + seconds * S


class CountingQuery:
    def __init__(self, influx) -> None:
        self.influx, self.statements, self.fail = influx, [], False

    def __call__(self, statement: str):
        self.statements.append(statement)
        if self.fail:
            raise InfluxError("InfluxDB unreachable (test)", retryable=True)
        return self.influx.query(statement)

    def ranges(self) -> list[tuple[int, int]]:
        """The time ranges (seconds after T0) of the statements asked since the last call."""
        spans = [re.search(r"time >= (\d+) AND time < (\d+)", q).groups() for q in self.statements]
        self.statements.clear()
        return [((int(a) - T0) // S, (int(b) - T0) // S) for a, b in spans]


def firing(engine: RuleEngine, alert: str) -> set[str]:
    return engine.firing_by_alert().get(alert, set())


def test_one_query_per_rule_for_all_boxes_and_the_right_alerts(influx) -> None:
    write_history(influx)
    query = CountingQuery(influx)
    engine = RuleEngine(RULES, query, lambda: BOXES)
    power = RULES[0]
    evaluation = engine.evaluate(power, [at(s) for s in range(10, 180, 10)])
    # deviation (raw samples of its two fields), threshold (its clear condition reuses the same
    # statement), absence: 3 statements for the whole batch
    assert len(query.statements) == 3
    assert sum('GROUP BY time(10s), "jbox_id"' in q for q in query.statements) == 2
    assert any(
        q.startswith('SELECT "p_meas_kw" AS "f", "p_setpoint_kw" AS "r", "jbox_id" FROM') for q in query.statements
    )
    assert firing(engine, "SetpointNotFollowed") == {"jbox-1"}
    assert firing(engine, "Silent") == {"jbox-3", "jbox-never"}  # the never-seen box too
    fired = {(rule.rule.alert, t.key): t.at for rule, t in evaluation.transitions if t.to == "firing"}
    # deviating from 60s: pending at the first evaluation that sees it (70s), firing 30s later
    assert fired[("SetpointNotFollowed", "jbox-1")] == at(100)
    # hysteresis: jbox-2 at 52 °C is below 55 but not below the clear bound 50: still firing;
    # it resolves once at 45 °C
    resolved = {(rule.rule.alert, t.key): t.at for rule, t in evaluation.transitions if t.to == "resolved"}
    assert resolved[("Hot", "jbox-2")] == at(170)
    alert = next(a for a in evaluation.alerts if a.name == "SetpointNotFollowed")
    assert alert.labels == {"severity": "critical", "jbox_id": "jbox-1", "region": "IDF"}
    assert alert.annotations["summary"] == "jbox-1 off by 700 kW in IDF"


def test_each_evaluation_reads_only_what_is_new_plus_late_data(influx) -> None:
    """Live-style: the first evaluation reads the whole window, the next ones from the end of the
    previous read less ``late_data`` (whole steps); a new engine (a restart) reads the window again."""
    write_history(influx)
    query = CountingQuery(influx)
    thermal = RuleFile.model_validate(
        {
            "groups": [
                {
                    "name": "thermal",
                    "interval": "10s",
                    "rules": [
                        {
                            "alert": "Hot",
                            "condition": {
                                "threshold": {
                                    "field": "temp_max_c",
                                    "aggregate": "max",
                                    "window": "1m",
                                    "op": ">",
                                    "value": 55,
                                }
                            },
                        }
                    ],
                }
            ]
        }
    ).groups

    engine = RuleEngine(thermal, query, lambda: BOXES, late_data_s=15)
    engine.evaluate(thermal[0], [at(120)])
    assert query.ranges() == [(60, 120)]  # the 1-minute window
    engine.evaluate(thermal[0], [at(130)])
    assert query.ranges() == [(100, 130)]  # from 120 s, less 15 s of late data rounded up to 20 s
    again = engine.evaluate(thermal[0], [at(140)])
    assert query.ranges() == [(110, 140)]
    assert firing(engine, "Hot") == {"jbox-2"} and not again.errors
    restarted = RuleEngine(thermal, query, lambda: BOXES, late_data_s=15)
    restarted.evaluate(thermal[0], [at(150)])
    assert query.ranges() == [(90, 150)]


def test_a_bucket_read_late_data_after_its_end_is_final_and_read_once(influx) -> None:
    """With the wall clock (live), a bucket that had ended ``late_data`` before it was read is not
    read again: evaluated 30 s after its step (``query_offset``), a 1-minute group reads each minute
    once. A point arriving after that is not seen; one arriving within late_data of a read is."""
    query = CountingQuery(influx)
    energy = RuleFile.model_validate(
        {
            "groups": [
                {
                    "name": "energy",
                    "interval": "1m",
                    "rules": [
                        {
                            "alert": "Low",
                            "condition": {
                                "threshold": {
                                    "field": "soc_pct",
                                    "aggregate": "min",
                                    "window": "3m",
                                    "op": "<",
                                    "value": 10,
                                }
                            },
                        }
                    ],
                }
            ]
        }
    ).groups

    def soc(second: int, value: float, box: str = "jbox-1") -> None:
        influx.write([encode_point("telemetry", {"jbox_id": box}, {"soc_pct": value}, at(second))])

    now = {"s": 0.0}  # the wall clock, in seconds after T0
    engine = RuleEngine(energy, query, lambda: BOXES, late_data_s=30, clock=lambda: T0 / S + now["s"])
    soc(200, 50.0)
    now["s"] = 240 + 30  # evaluated 30 s after the step
    engine.evaluate(energy[0], [at(240)])
    assert query.ranges() == [(60, 240)]
    soc(230, 5.0)  # arrives 45 s after its bucket [180, 240) ended, which was read 30 s after it: final
    now["s"] = 300 + 30
    engine.evaluate(energy[0], [at(300)])
    assert query.ranges() == [(240, 300)]  # only the new minute
    assert firing(engine, "Low") == set()  # the point that came too late is not seen live
    # read at the step itself (no offset), the last 30 s bucket is re-read at the next evaluation
    now["s"] = 360
    engine.evaluate(energy[0], [at(360)])
    assert query.ranges() == [(300, 360)]
    soc(350, 5.0, "jbox-2")  # within late_data of that read
    now["s"] = 420
    engine.evaluate(energy[0], [at(420)])
    assert query.ranges() == [(300, 420)]  # the not yet final minute again, and the new one
    assert firing(engine, "Low") == {"jbox-2"}


def test_fleet_ratio_reads_the_alert_states(influx) -> None:
    write_history(influx)
    engine = RuleEngine(RULES, influx.query, lambda: BOXES[:3])
    power, fleet = RULES
    engine.evaluate(power, [at(s) for s in range(10, 180, 10)])
    evaluation = engine.evaluate(fleet, [at(170)])
    assert firing(engine, "ManyFaulty") == {""}  # 1 of 3 boxes > 0.3
    alert = next(a for a in evaluation.alerts if a.name == "ManyFaulty")
    assert "jbox_id" not in alert.labels and round(alert.value, 3) == 0.333


def test_an_influxdb_outage_resolves_nothing(influx) -> None:
    write_history(influx)
    query = CountingQuery(influx)
    engine = RuleEngine(RULES, query, lambda: BOXES)
    power = RULES[0]
    engine.evaluate(power, [at(s) for s in range(10, 120, 10)])
    assert firing(engine, "SetpointNotFollowed") == {"jbox-1"}
    query.fail = True
    evaluation = engine.evaluate(power, [at(120), at(130)])
    assert set(evaluation.errors) == {"power/SetpointNotFollowed", "power/Hot", "power/Silent"}
    assert firing(engine, "SetpointNotFollowed") == {"jbox-1"}
    assert not [t for _, t in evaluation.transitions if t.to == "resolved"]
    assert {a.name for a in evaluation.alerts} >= {"SetpointNotFollowed", "Silent"}


@pytest.mark.parametrize("restart_at", [80, 110])
def test_states_survive_a_restart(influx, tmp_path: Path, restart_at: int) -> None:
    """Restart inside the ``for`` (80s: pending since 70s) or after firing (110s)."""
    write_history(influx)
    store = StateStore(tmp_path / "state.sqlite").open()
    first = RuleEngine(RULES, influx.query, lambda: BOXES, store)
    first.evaluate(RULES[0], [at(s) for s in range(10, restart_at + 1, 10)])
    store.close()
    store = StateStore(tmp_path / "state.sqlite").open()
    second = RuleEngine(RULES, influx.query, lambda: BOXES, store)
    evaluation = second.evaluate(RULES[0], [at(s) for s in range(restart_at + 10, 150, 10)])
    fired = [
        t.at for rule, t in evaluation.transitions if t.to == "firing" and rule.rule.alert == "SetpointNotFollowed"
    ]
    # the pending timer kept its start: firing at 100s as without a restart; once fired, not again
    assert fired == ([at(100)] if restart_at < 100 else [])
    assert firing(second, "SetpointNotFollowed") == {"jbox-1"}
    store.close()


@pytest.mark.parametrize("group_name", ["power", "thermal", "energy", "liveness"])
def test_the_shipped_raw_data_groups_read_each_step_once_with_the_default_late_data(influx, group_name) -> None:
    """Evaluated ``query_offset`` after their step (the schedule's wall clock) with ``rules.late_data``
    at its default, the shipped groups that read raw 1-s data ask InfluxDB for each step once: the
    first evaluation reads the window, every later one only the step that just ended."""
    from config.rules import RulesConfig
    from rules.loader import load_rules
    from rules.reads import LATE_DATA_S

    assert RulesConfig.model_fields["late_data"].default == LATE_DATA_S  # one default, said twice

    group = next(g for g in load_rules([str(SHIPPED_RULES)]) if g.name == group_name)
    step, offset = int(group.interval), group.query_offset
    query = CountingQuery(influx)
    now = {"s": 0.0}
    engine = RuleEngine([group], query, lambda: BOXES, late_data_s=RulesConfig.model_fields["late_data"].default,
                        clock=lambda: T0 / S + now["s"], samples=query)  # fmt: skip
    first = 7200 // step * step  # past every window's look-back
    for n in range(4):
        t = first + n * step
        now["s"] = t + offset + 0.5  # when the scheduler runs it
        engine.evaluate(group, [at(t)])
        spans = set(query.ranges())
        if n:
            assert spans == {(t - step, t)}, (group_name, t, spans)
