"""The write stream answers a reading as InfluxDB does, or not at all.

The same generated points are written to a real influxd and fed to a :class:`SampleStream`; every
reading the conditions make (raw samples, buckets of each aggregate, several steps) must give the
frame InfluxDB gives: fields missing from some points, a point written twice with other fields,
integer fields, boxes with tags to escape. Then what makes the stream step aside (a gap, a type
change, a field not held, a range older than what is held).
"""

from __future__ import annotations

import math
import time
import uuid

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.model import InfluxDBConfig
from rules.conditions.reading import AGGREGATES, Column, Reading, buckets
from rules.stream import SampleStream
from storage import InfluxClient, InfluxSettings
from storage.lineparser import parse_line
from storage.lineprotocol import encode_point

S = 1_000_000_000
T0 = (int(time.time()) - 3 * 3600) // 600 * 600 * S
BOXES = ["jbox-1", "jbox 2,x=y", 'jbox"3']  # escapes take the reference parser's path

sample = st.fixed_dictionaries(
    {
        "box": st.sampled_from(BOXES),
        "second": st.integers(0, 179),
        "a": st.none() | st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: round(v, 2)),
        "b": st.none() | st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: round(v, 2)),
        "n": st.none() | st.integers(0, 10**6),  # an integer field
        "note": st.none() | st.sampled_from(["ok", 'say "hi"', "a,b c=d"]),  # a string no rule reads
    }
)


def lines(samples: list[dict]) -> list[str]:
    out = []
    for s in samples:
        fields = {k: s[k] for k in ("a", "b", "n", "note") if s[k] is not None}
        if fields:
            out.append(encode_point("m", {"jbox_id": s["box"], "site": "s 1"}, fields, T0 + s["second"] * S))
    return out


def readings() -> list[Reading]:
    raw = Reading("m", None, (Column("f", "a"), Column("r", "b")), None)
    per_step = [
        buckets("m", None, step, *[(f"{how}_{field}", how, field) for how in AGGREGATES for field in ("a", "n")])
        for step in (10, 30, 60)
    ]
    two = buckets("m", None, 30, ("first_a", "first", "a"), ("count_b", "count", "b"), ("max_b", "max", "b"))
    return [raw, *per_step, two]


def same(got: pd.DataFrame, want: pd.DataFrame, reading: Reading) -> None:
    columns = ["time", "jbox_id", *[c.name for c in reading.columns]]
    if want.empty:
        assert got.empty or len(got) == 0
        return
    key = ["jbox_id", "time"]
    want = want[[c for c in columns if c in want]].sort_values(key).reset_index(drop=True)
    got = got[[c for c in columns if c in want]].sort_values(key).reset_index(drop=True)
    for column in columns[2:]:  # InfluxDB's JSON says null where pandas says NaN: what conditions read
        if column in want:
            want[column] = pd.to_numeric(want[column], errors="coerce").astype("float64")
            got[column] = got[column].astype("float64")
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-12, atol=1e-9)


@pytest.fixture(scope="module")
def client(influx_server):
    database = f"test_stream_{uuid.uuid4().hex[:8]}"
    client = InfluxClient(InfluxSettings.from_config(InfluxDBConfig(url=influx_server.url, database=database)))
    yield client
    client.execute(f'DROP DATABASE "{database}"', database="")
    client.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    samples=st.lists(sample, min_size=1, max_size=60),
    again=st.lists(sample, max_size=10),
    span=st.tuples(st.integers(0, 17), st.integers(1, 18)),
)
def test_every_reading_is_answered_as_influxdb_answers_it(client, samples, again, span) -> None:
    client.execute(f'DROP DATABASE "{client.settings.database}"', database="")
    client.create_database()
    # some points written a second time with other fields (a retried request): InfluxDB merges them
    rewritten = [{**s, "second": samples[i % len(samples)]["second"], "box": samples[i % len(samples)]["box"]}
                 for i, s in enumerate(again)]  # fmt: skip
    body = lines(samples) + lines(rewritten)
    client.write(body)
    stream = SampleStream(hold_s=10**6, margin_s=0, clock=lambda: T0 / S - 1)
    stream.want(readings())
    stream.feed("")  # the subscription is live
    for start in range(0, len(body), 7):  # forwarded in batches, as written
        stream.feed("\n".join(body[start : start + 7]))
    first, count = sorted(span)[0], max(1, abs(span[1] - span[0]))
    for reading in readings():
        step = reading.step_s or 10
        start = T0 + first * 10 * S // step * step
        end = start + count * 60 * S
        want = client.query(reading.influxql(start, end))
        got = stream.answer(reading, start, end)
        assert got is not None
        same(got, want, reading)


@settings(max_examples=40, deadline=None)
@given(samples=st.lists(sample, min_size=1, max_size=20))
def test_plain_and_escaped_lines_are_held_as_the_reference_parser_reads_them(samples) -> None:
    body = lines(samples)
    stream = SampleStream(hold_s=10**6, margin_s=0, clock=lambda: T0 / S - 1)
    reading = Reading("m", None, (Column("a", "a"), Column("b", "b"), Column("n", "n")), None)
    stream.want([reading])
    stream.feed("\n".join(body))
    got = stream.answer(reading, T0, T0 + 200 * S)
    expected: dict[tuple[str, int], dict[str, float]] = {}
    for line in body:
        point = parse_line(line)
        held = {k: float(v) for k, v in point.fields.items() if k in ("a", "b", "n")}
        if held:
            expected.setdefault((point.tags["jbox_id"], point.time_ns), {}).update(held)
    assert len(got) == len(expected)
    for row in got.itertuples():
        want = expected[(row.jbox_id, row.t_ns)]
        for name in ("a", "b", "n"):
            value = getattr(row, name)
            assert want.get(name, math.nan) == value or (name not in want and math.isnan(value))


def _stream(clock) -> tuple[SampleStream, Reading]:
    stream = SampleStream(hold_s=120, margin_s=15, clock=clock)
    reading = buckets("m", None, 10, ("n", "count", "a"))
    stream.want([reading])
    return stream, reading


def test_complete_only_from_a_margin_after_the_first_batch_and_after_a_gap() -> None:
    now = [T0 / S]
    stream, reading = _stream(lambda: now[0])
    assert stream.answer(reading, T0, T0 + 10 * S) is None  # nothing forwarded yet
    stream.feed(f"m,jbox_id=b1 a=1 {T0}")
    assert stream.answer(reading, T0, T0 + 10 * S) is None  # written before the subscription took effect?
    assert stream.answer(reading, T0 + 20 * S, T0 + 30 * S) is not None
    now[0] += 60
    stream.feed(f"m,jbox_id=b1 a=2i {T0 + 60 * S}")  # InfluxDB refuses this point (float field) yet forwards it
    assert stream.gaps == 1
    assert stream.answer(reading, T0 + 60 * S, T0 + 70 * S) is None
    assert stream.answer(reading, T0 + 80 * S, T0 + 90 * S) is not None
    now[0] += 60
    stream.feed(f"m,jbox_id=b1 a=true {T0 + 120 * S}")  # not a number: nothing a rule can count on
    assert stream.answer(reading, T0 + 130 * S, T0 + 140 * S) is None


def test_steps_aside_for_fields_not_held_other_policies_and_ranges_dropped() -> None:
    now = [T0 / S]
    stream, reading = _stream(lambda: now[0])
    stream.feed(f"m,jbox_id=b1 a=1 {T0}")
    later = buckets("m", None, 10, ("n", "count", "b"))
    assert stream.answer(later, T0 + 20 * S, T0 + 30 * S) is None  # b is not held
    stream.want([reading, later])  # a reload that reads b: held from now on, complete a margin later
    assert stream.answer(later, T0 + 10 * S, T0 + 20 * S) is None
    assert stream.answer(later, T0 + 20 * S, T0 + 30 * S) is not None
    assert stream.answer(buckets("m", "logs", 10, ("n", "count", "a")), T0 + 20 * S, T0 + 30 * S) is None
    stream.feed(f"m,jbox_id=b1 a=1 {T0 + 300 * S}")
    now[0] += 600
    for second in range(600, 660):
        stream.feed(f"m,jbox_id=b1 a={second} {T0 + second * S}")
    stream.prune()
    assert stream.answer(reading, T0 + 400 * S, T0 + 610 * S) is None  # older than `hold`: dropped
    frame = stream.answer(reading, T0 + 600 * S, T0 + 660 * S)
    assert list(frame["n"]) == [10] * 6
    assert np.array_equal(frame["t_ns"].to_numpy(), T0 + np.arange(600, 660, 10) * S)
