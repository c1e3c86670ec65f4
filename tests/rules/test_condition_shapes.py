"""Every condition kind evaluates any data shape: gaps, duplicates, misaligned timestamps, NaN.

The reported crash first (``frozen`` with a measured power but no setpoint, through a real InfluxDB),
then property tests feeding each kind's ``evaluate`` the bucket frames a query could return and
some it should not (rows off the bucket grid or outside the window, a box twice in one bucket,
NaN and missing values, columns missing): never an exception, and a well-formed result.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory import Box
from rules.conditions import CONDITIONS
from rules.conditions.base import RESULT_COLUMNS, EvalContext
from rules.engine import RuleEngine
from rules.model import RuleFile
from storage.lineprotocol import encode_point

S = 1_000_000_000
STEP = 10
T0 = (int(time.time()) - 3600) // 60 * 60 * S

SPECS = [
    {"kind": "deviation", "field": "p_meas_kw", "reference": "p_setpoint_kw", "absolute": 50, "window": "20s"},
    {
        "kind": "deviation",
        "field": "p_meas_kw",
        "reference": "p_setpoint_kw",
        "absolute": 50,
        "window": "20s",
        "frozen": "10s",
    },
    *(
        {"kind": "threshold", "field": "temp_max_c", "aggregate": a, "window": "30s", "op": ">", "value": 40}
        for a in ("mean", "max", "min", "last", "count", "sum")
    ),
    {"kind": "absence", "measurement": "telemetry", "field": "p_meas_kw", "duration": "30s"},
    {"kind": "rate", "field": "soc_pct", "window": "40s", "op": ">", "value": 1, "absolute": True},
    {"kind": "energy_balance", "window": "30s", "value": 1},
    {"kind": "energy_balance", "window": "30s", "value": 1, "baseline": {"window": "40s", "value": 0.5}},
    {"kind": "soc_limit", "window": "30s"},
]


def test_frozen_with_measured_power_but_no_setpoint_does_not_crash(influx) -> None:
    """Measured and setpoint series of different lengths and timestamps: the reported ValueError."""
    lines = []
    for k in range(12):
        t = T0 + k * S * 5
        lines.append(encode_point("telemetry", {"jbox_id": "only-measured"}, {"p_meas_kw": 300.0}, t))
        lines.append(encode_point("telemetry", {"jbox_id": "both"}, {"p_meas_kw": 300.0, "p_setpoint_kw": 0.0}, t))
        if k % 3 == 0:  # a setpoint of its own, at other timestamps
            lines.append(encode_point("telemetry", {"jbox_id": "misaligned"}, {"p_setpoint_kw": 0.0}, t + S))
        lines.append(encode_point("telemetry", {"jbox_id": "misaligned"}, {"p_meas_kw": 300.0}, t))
    influx.write(lines)
    rules = RuleFile.model_validate(
        {
            "groups": [
                {
                    "name": "power",
                    "interval": "10s",
                    "rules": [{"alert": "Stuck", "condition": {"deviation": SPECS[1]}}],
                }
            ]
        }
    ).groups
    engine = RuleEngine(rules, influx.query, lambda: [Box("both"), Box("only-measured"), Box("misaligned")])
    evaluation = engine.evaluate(rules[0], [T0 + s * S for s in range(20, 60, 10)])
    assert not evaluation.errors
    # the box with both series is stuck at 300 kW off a 0 kW setpoint; the others have no deviation to judge
    assert {t.key for _, t in evaluation.transitions if t.to == "pending"} == {"both"}


def _columns(spec) -> list[str]:
    return sorted(set(re.findall(r" AS (\w+)", spec.query(0, 0, STEP))))


values = st.one_of(
    st.none(), st.just(float("nan")), st.floats(-1000, 1000, allow_nan=False), st.sampled_from([0.0, 1.0, 1.0])
)
offsets = st.one_of(
    st.integers(-8, 3).map(lambda k: k * STEP * S),  # on the grid, some outside the window
    st.integers(-80 * S, 30 * S),  # anywhere, mostly off the grid
)


@st.composite
def frames(draw, columns: list[str]) -> pd.DataFrame:
    rows = draw(st.lists(st.tuples(offsets, st.sampled_from(["a", "b", "c"])), max_size=30))
    table = {
        "time": [pd.Timestamp(T0 + offset, unit="ns", tz="UTC") for offset, _ in rows],
        "jbox_id": [box for _, box in rows],
    }
    dropped = draw(st.sets(st.sampled_from(columns))) if columns else set()
    for column in columns:
        if column not in dropped or len(dropped) == len(columns):
            table[column] = [draw(values) for _ in rows]
    return pd.DataFrame(table)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), which=st.integers(0, len(SPECS) - 1), times=st.integers(1, 4))
def test_every_condition_kind_evaluates_any_data_shape(data, which: int, times: int) -> None:
    spec = CONDITIONS[SPECS[which]["kind"]].model_validate(SPECS[which])
    frame = data.draw(frames(_columns(spec)))
    eval_times = [T0 + k * STEP * S for k in range(times)]
    context = EvalContext(inventory=["a", "b", "c", "d"], data_start=T0 - 100 * S)
    result = spec.evaluate(frame, eval_times, STEP, context)
    assert list(result.columns[:4]) == RESULT_COLUMNS
    assert set(result["time"].astype("int64")) <= set(eval_times)
    assert not result.duplicated(["time", "jbox_id"]).any()
    assert result["active"].map(lambda v: isinstance(v, bool | np.bool_)).all()
    active = result[result["active"].astype(bool)]
    assert active["value"].notna().all(), "an active result without a value"
    if "since" in result:
        since = result["since"].dropna()
        assert (since <= result.loc[since.index, "time"]).all(), "a condition dated after its evaluation"
