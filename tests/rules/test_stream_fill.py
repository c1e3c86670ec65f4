"""The stream extended back over what a real influxd held before its subscription (a fresh start):
its first answers, whole windows, are what InfluxDB answers; with history, or too much, it is not."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from jboxmon.httpserver import BackgroundServer
from rules import subscription as subscription_module
from rules.conditions.reading import Column, Reading, buckets
from rules.stream import SampleStream
from rules.streamreceiver import create_receiver
from rules.subscription import FILL_LOOKBACK_S, StreamSubscription
from tests.rules.test_stream_subscription import _until, client  # noqa: F401 - the fixture

S = 1_000_000_000
READINGS = [
    buckets("telemetry", None, 60, ("n", "count", "p"), ("mean", "mean", "p"), ("first", "first", "q")),
    buckets("telemetry", None, 10, ("max", "max", "q"), ("last", "last", "p"), ("sum", "sum", "p")),
    Reading("telemetry", None, (Column("f", "p"), Column("r", "q")), None),
    buckets("heartbeat", None, 60, ("n", "count", "uptime_s")),
]


def _subscribed(influx, stream: SampleStream, token: str = "t0ken"):
    stream.want(READINGS)
    server = BackgroundServer(create_receiver(stream, token)).start()
    subscription = StreamSubscription(influx, stream, f"http://jboxmon:{token}@127.0.0.1:{server.port}", "test")
    assert subscription.open()
    _until(lambda: stream._live)  # the probe came back: complete from then
    return server, subscription


def _same(got: pd.DataFrame | None, want: pd.DataFrame) -> None:
    assert got is not None
    want = want[want["jbox_id"].fillna("") != ""]  # a point without a box is no box's (the stream's rule)
    key = ["jbox_id", "time"]
    columns = sorted(set(want.columns) - {"measurement", *key})
    assert columns and len(got) == len(want) > 0
    got, want = got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[key + columns], want[key + columns], check_dtype=False)


def test_a_fresh_start_answers_whole_windows_from_memory_as_influxdb_does(client) -> None:  # noqa: F811
    stream = SampleStream(hold_s=600, margin_s=0)
    now = int(time.time())
    # written before the subscription: 90 s of 4 boxes, some fields missing, a point twice (merged
    # by InfluxDB), a line without a box, a heartbeat
    before = [
        f"telemetry,jbox_id=b{b},site=x p={b * 10 + s}.25{f',q={s % 7}.5' if (s + b) % 3 else ''} {(now - 90 + s) * S}"
        for s in range(90)
        for b in range(4)
    ]
    before += [f"telemetry,jbox_id=b1,site=x q=99.5 {(now - 50) * S}", f"telemetry p=5.5 {(now - 40) * S}"]
    before += [f"heartbeat,jbox_id=b{b} uptime_s={b}i {(now - 70 + b) * S}" for b in range(4)]
    client.write(before)
    server, subscription = _subscribed(client, stream)
    try:
        complete_from = stream._tables["telemetry"].complete_from
        client.write([f"telemetry,jbox_id=b{b} p={s}.5,q=1.5 {(now + s) * S}" for s in range(1, 20) for b in range(4)])
        _until(lambda: stream.lines >= 76)
        assert stream.answer(READINGS[0], complete_from - 3600 * S, complete_from) is None  # not yet
        subscription.fill()
        start, end = (now - 3600) // 60 * 60 * S, (now + 60) // 60 * 60 * S
        for reading in READINGS:
            _same(stream.answer(reading, start, end), client.query(reading.influxql(start, end)))
        assert stream._tables["heartbeat"].kinds == [int]  # as InfluxDB keeps it
        floor = complete_from - FILL_LOOKBACK_S * S
        assert stream.answer(READINGS[0], floor, end) is not None
        assert stream.answer(READINGS[0], floor - 60 * S, end) is None  # beyond the look-back: a query
    finally:
        subscription.close()
        server.stop()


@pytest.mark.parametrize("history", ["older", "too_many", "boolean"])
def test_history_or_too_many_rows_leave_the_first_reads_to_influxdb(client, history, monkeypatch) -> None:  # noqa: F811
    stream = SampleStream(hold_s=180, margin_s=0)
    now = int(time.time())
    lines = [f"telemetry,jbox_id=b{b} p={s}.5 {(now - 60 + s) * S}" for s in range(60) for b in range(3)]
    if history == "older":
        lines.append(f"telemetry,jbox_id=b0 p=1.5 {(now - 1800) * S}")  # older than the hold: a restart
    elif history == "too_many":
        monkeypatch.setattr(subscription_module, "FILL_ROWS", 100)
    else:  # a field the rules read is a boolean in InfluxDB: nothing the stream can hold
        lines.append(f"telemetry,jbox_id=b0 q=true {(now - 30) * S}")
    client.write(lines)
    server, subscription = _subscribed(client, stream)
    try:
        complete_from = stream._tables["telemetry"].complete_from
        subscription.fill()
        assert stream._tables["telemetry"].complete_from == complete_from
        assert stream.answer(READINGS[0], complete_from - 60 * S, complete_from) is None
        assert stream._tables["heartbeat"].complete_from < complete_from  # nothing held before: filled
    finally:
        subscription.close()
        server.stop()


def test_pruning_keeps_a_filled_table_complete_until_it_drops_rows() -> None:
    now = [1000.0]
    stream = SampleStream(hold_s=100, margin_s=0, clock=lambda: now[0])
    stream.want([READINGS[0]])
    stream.feed(f"telemetry,jbox_id=b0 p=1.5,q=2.5 {1001 * S}")  # complete from 1000 s
    rows = pd.DataFrame({"time": pd.to_datetime([950 * S], utc=True), "jbox_id": ["b1"], "p": [7.5], "q": [np.nan]})
    boxless = pd.DataFrame({"time": pd.to_datetime([940 * S], utc=True), "p": [1.5], "q": [2.5]})
    other = SampleStream(hold_s=100, margin_s=0, clock=lambda: now[0])
    other.want([READINGS[0]])
    other.feed(f"telemetry,jbox_id=b0 p=1.5,q=2.5 {1001 * S}")
    assert other.fill("telemetry", 1000 * S, 0, boxless, {})  # no point had a box: none is held
    assert other.answer(READINGS[0], 0, 1000 * S).empty
    kinds = {"p": float, "q": float}
    assert not stream.fill("telemetry", 1000 * S, 0, rows, {"p": int})  # forwarded as a float: refused
    assert stream.fill("telemetry", 1000 * S, 0, rows, kinds)
    assert not stream.fill("telemetry", 1000 * S, 0, rows, kinds)  # complete from elsewhere now: refused
    now[0] = 1040.0
    stream.prune()  # nothing older than 940 s held: still complete from 0
    assert stream.answer(READINGS[0], 0, 1020 * S) is not None
    now[0] = 1060.0
    stream.prune()  # the filled row (950 s) dropped: complete from 960 s only
    assert stream.answer(READINGS[0], 0, 1020 * S) is None
    assert stream.answer(READINGS[0], 960 * S, 1020 * S)["n"].tolist() == [1]
