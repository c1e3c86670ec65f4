"""``InfluxClient.query_samples`` (CSV decoded by pandas) gives the frame ``query`` (JSON) gives, for
the raw-sample statements the rules read: odd box ids, missing fields, integers, tiny and huge
values, rows without the tag. Held to the JSON path on a real InfluxDB, on generated data."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import InfluxError
from storage.lineprotocol import encode_point

T0 = (time.time_ns() - 3600 * 10**9) // 10**9 * 10**9  # within the raw retention policy
STATEMENT = (
    'SELECT "p_meas_kw" AS f, "p_setpoint_kw" AS r, "jbox_id" FROM "telemetry" WHERE time >= {start} AND time < {end}'
)
box_ids = st.one_of(
    st.sampled_from(["jbox-0001", "00123", "1e5", "NaN", "a,b c", 'q"uote', "é-box", "true", "-"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
        lambda s: s.strip() == s and "\\" not in s
    ),
)
values = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=-1e-9, max_value=1e-9, allow_nan=False),
)
rows = st.lists(st.tuples(st.one_of(st.none(), box_ids), values, values), min_size=0, max_size=40)


def missing_as_none(column: pd.Series) -> list:
    return [None if pd.isna(value) else value for value in column]


def frames_agree(json_frame: pd.DataFrame, csv_frame: pd.DataFrame) -> None:
    assert list(csv_frame.columns) == list(json_frame.columns)
    if json_frame.empty:
        assert csv_frame.empty
        return
    assert (csv_frame["time"] == json_frame["time"]).all()
    assert missing_as_none(csv_frame["jbox_id"]) == missing_as_none(json_frame["jbox_id"])
    for column in ("f", "r"):
        expected = pd.to_numeric(json_frame[column], errors="coerce").astype("float64")
        pd.testing.assert_series_equal(csv_frame[column].astype("float64"), expected, check_names=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows)
def test_the_csv_path_gives_the_json_frame(influx, data) -> None:
    influx.execute('DROP SERIES FROM "telemetry"')
    lines = []
    for second, (box, f, r) in enumerate(data, start=1):
        fields = {k: v for k, v in (("p_meas_kw", f), ("p_setpoint_kw", r)) if v is not None} or {"other": 1.0}
        lines.append(encode_point("telemetry", {"jbox_id": box} if box else {}, fields, T0 + second * 10**9))
    if lines:
        influx.write(lines)
    statement = STATEMENT.format(start=T0, end=T0 + 100 * 10**9)
    frames_agree(influx.query(statement), influx.query_samples(statement))


def test_box_ids_that_look_like_numbers_stay_strings(influx) -> None:
    ids = ["00123", "1e5", "0", "NaN", "true"]
    influx.write(
        [encode_point("telemetry", {"jbox_id": box}, {"p_meas_kw": 1.0}, T0 + i * 10**9) for i, box in enumerate(ids)]
    )
    frame = influx.query_samples(STATEMENT.format(start=T0, end=T0 + 100 * 10**9))
    assert frame["jbox_id"].tolist() == ids
    frames_agree(influx.query(STATEMENT.format(start=T0, end=T0 + 100 * 10**9)), frame)


def test_an_empty_result_and_an_error(influx) -> None:
    assert influx.query_samples(STATEMENT.format(start=T0, end=T0 + 1)).empty
    with pytest.raises(InfluxError, match="error parsing query"):
        influx.query_samples("SELECT bad syntax")
