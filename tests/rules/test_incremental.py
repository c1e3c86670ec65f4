"""Incremental reads give the alerts of full-window reads, on generated series with late points.

Both engines run side by side, live-style, against the same real InfluxDB: before each evaluation
time the points that have *arrived* by then are written (each point arrives up to ``late_data``
after its timestamp), then both evaluate. The reference reads every window whole
(``late_data_s=None``); the incremental engine reads only what is new plus ``late_data``.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.model import InfluxDBConfig
from inventory import Box
from rules.engine import RuleEngine
from rules.model import RuleFile
from rules.stream import SampleStream
from storage import InfluxClient, InfluxSettings
from storage.lineprotocol import encode_point

S = 1_000_000_000
LATE_S = 20
HORIZON_S = 200
T0 = (int(time.time()) - 7200) // 300 * 300 * S

RULES = RuleFile.model_validate(
    {
        "groups": [
            {
                "name": "power",
                "interval": "10s",
                "rules": [
                    {
                        "alert": "Deviation",
                        "condition": {
                            "deviation": {
                                "field": "p_meas_kw",
                                "reference": "p_setpoint_kw",
                                "absolute": 50,
                                "relative": 0.1,
                                "window": "20s",
                                "frozen": "10s",
                            }
                        },
                        "for": "30s",
                        "keep_firing_for": "20s",
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
                        "for": "10s",
                    },
                ],
            },
            {
                "name": "slow",
                "interval": "30s",
                "rules": [
                    {
                        "alert": "SoCFast",
                        "condition": {
                            "rate": {
                                "field": "soc_pct",
                                "window": "2m",
                                "per": "1h",
                                "op": ">",
                                "value": 30,
                                "absolute": True,
                            }
                        },
                    },
                    {
                        "alert": "SoCLow",
                        "condition": {
                            "threshold": {
                                "field": "soc_pct",
                                "aggregate": "mean",
                                "window": "1m",
                                "op": "<",
                                "value": 45,
                            }
                        },
                        "for": "30s",
                    },
                    {
                        "alert": "Drift",
                        "condition": {"energy_balance": {"window": "2m", "value": 0.5}},
                        "for": "30s",
                    },
                    {
                        "alert": "Silent",
                        "condition": {"absence": {"measurement": "telemetry", "field": "p_meas_kw", "duration": "1m"}},
                    },
                ],
            },
        ]
    }
).groups
BOXES = [Box(f"jbox-{i}") for i in range(3)]

box_plan = st.fixed_dictionaries(
    {
        "period": st.sampled_from([1, 2, 5, 10]),
        "phase": st.integers(0, 9),
        "deviate": st.tuples(st.integers(0, HORIZON_S), st.integers(0, HORIZON_S)),
        "freeze": st.tuples(st.integers(0, HORIZON_S), st.integers(0, HORIZON_S)),
        "gap": st.tuples(st.integers(0, HORIZON_S), st.integers(0, 150)),
        "hot": st.tuples(st.integers(0, HORIZON_S), st.integers(0, 120)),
        "soc_rate": st.sampled_from([0.0, 0.02, -0.05]),  # points per second no energy explains
        "delay": st.integers(0, LATE_S),  # the largest arrival delay of this box's points
    }
)


def points(plans: list[dict], seed: int) -> list[tuple[int, str]]:
    """(arrival ns, line) for every point of the generated series."""
    rng = np.random.default_rng(seed)
    out = []
    for number, plan in enumerate(plans):
        box, soc = f"jbox-{number}", 50.0
        stuck = None
        for second in range(plan["phase"], HORIZON_S, plan["period"]):
            if plan["gap"][0] <= second < plan["gap"][0] + plan["gap"][1]:
                continue
            setpoint = float(round(rng.normal(0, 300)))
            measured = setpoint + rng.normal(0, 10) + (400 if _inside(second, plan["deviate"]) else 0)
            if _inside(second, plan["freeze"]):
                stuck = measured if stuck is None else stuck
                measured = stuck
            else:
                stuck = None
            soc += plan["soc_rate"] * plan["period"] - measured * plan["period"] / 3600 / 1000 * 100
            fields = {
                "p_meas_kw": round(measured, 1),
                "p_setpoint_kw": setpoint,
                "temp_max_c": 60.0 if _inside(second, (plan["hot"][0], plan["hot"][0] + plan["hot"][1])) else 30.0,
                "soc_pct": round(soc, 3),
            }
            t = T0 + second * S
            arrival = t + int(rng.integers(0, plan["delay"] + 1)) * S
            out.append((arrival, encode_point("telemetry", {"jbox_id": box}, fields, t)))
    return sorted(out)


def _inside(second: int, span: tuple[int, int]) -> bool:
    start, end = min(span), max(span)
    return start <= second < end


def transitions(evaluation) -> list[tuple]:
    return [(loaded.rule.alert, t.key, t.to, t.at, t.state.active_since) for loaded, t in evaluation.transitions]


def alerts(evaluation) -> list[tuple]:
    return sorted((a.name, a.labels.get("jbox_id", ""), a.status, round(a.value, 6)) for a in evaluation.alerts)


@pytest.fixture(scope="module")
def client(influx_server):
    database = f"test_incr_{uuid.uuid4().hex[:8]}"
    client = InfluxClient(InfluxSettings.from_config(InfluxDBConfig(url=influx_server.url, database=database)))
    yield client
    client.execute(f'DROP DATABASE "{database}"', database="")
    client.close()


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(box_plan, min_size=3, max_size=3), seed=st.integers(0, 2**16))
def test_incremental_reads_give_the_alerts_of_full_window_reads(client, plans, seed) -> None:
    client.execute(f'DROP DATABASE "{client.settings.database}"', database="")
    client.create_database()
    pending = points(plans, seed)
    reads = {"incremental": [], "reference": [], "streamed": []}

    def recorded(name):
        def query(statement):
            frame = client.query(statement)
            reads[name].append(len(frame))
            return frame

        return query

    now = [T0]
    stream = SampleStream(hold_s=150, margin_s=LATE_S, clock=lambda: now[0] / S)
    incremental = RuleEngine(RULES, recorded("incremental"), lambda: BOXES, late_data_s=LATE_S)
    reference = RuleEngine(RULES, recorded("reference"), lambda: BOXES, late_data_s=None)
    streamed = RuleEngine(RULES, recorded("streamed"), lambda: BOXES, late_data_s=LATE_S, stream=stream)
    power, slow = RULES
    for second in range(10, HORIZON_S + 30, 10):
        t = now[0] = T0 + second * S
        arrived = [line for arrival, line in pending if arrival <= t]
        pending = [(arrival, line) for arrival, line in pending if arrival > t]
        if arrived:
            client.write(arrived)
            stream.feed("\n".join(arrived))  # what InfluxDB forwards to a subscription, as it arrives
        for group in [power, slow] if second % 30 == 0 else [power]:
            got, want = incremental.evaluate(group, [t]), reference.evaluate(group, [t])
            assert transitions(got) == transitions(want), f"{group.name} at {second}s"
            assert alerts(got) == alerts(want), f"{group.name} at {second}s"
            from_stream = streamed.evaluate(group, [t])
            assert transitions(from_stream) == transitions(want), f"{group.name} at {second}s (stream)"
            assert alerts(from_stream) == alerts(want), f"{group.name} at {second}s (stream)"
    # the point of it: the incremental engine read fewer rows, and the streamed one fewer still
    assert sum(reads["incremental"]) < sum(reads["reference"])
    assert streamed.reader.rows_answered > 0
    assert sum(reads["streamed"]) < sum(reads["incremental"])
