"""A real influxd forwards its writes to the stream's receiver; a lost post is a gap.

The subscription, the receiver and the watch together: what InfluxDB stored is what the stream
answers; a receiver that was down (InfluxDB's posts fail) makes the stream step aside; a post
without the token is refused; a user without the right to subscribe leaves the engine on queries.
"""

from __future__ import annotations

import time
import uuid

import pandas as pd
import pytest
import requests

from config.model import InfluxDBConfig
from jboxmon.httpserver import BackgroundServer
from rules.conditions.reading import buckets
from rules.stream import SampleStream
from rules.streamreceiver import create_receiver
from rules.subscription import StreamSubscription
from storage import InfluxClient, InfluxSettings

S = 1_000_000_000
READING = buckets("telemetry", None, 10, ("n", "count", "p"), ("mean", "mean", "p"), ("last", "last", "p"))


@pytest.fixture
def client(influx_server):
    database = f"test_sub_{uuid.uuid4().hex[:8]}"
    client = InfluxClient(InfluxSettings.from_config(InfluxDBConfig(url=influx_server.url, database=database)))
    client.create_database()
    yield client
    client.execute(f'DROP DATABASE "{database}"', database="")
    client.close()


def _until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _write(client: InfluxClient, t0: int, seconds: range, boxes: int = 3) -> None:
    client.write(
        [f"telemetry,jbox_id=b{b},site=x p={b * 100 + s}.5 {t0 + s * S}" for s in seconds for b in range(boxes)]
    )


def test_what_influxdb_stores_is_what_the_stream_answers_and_a_lost_post_is_a_gap(client) -> None:
    now = [time.time()]
    stream = SampleStream(hold_s=600, margin_s=0, clock=lambda: now[0])
    stream.want([READING])
    token = "t0ken"
    server = BackgroundServer(create_receiver(stream, token)).start()
    subscription = StreamSubscription(client, stream, f"http://jboxmon:{token}@127.0.0.1:{server.port}", "test")
    try:
        assert subscription.open()
        _until(lambda: stream._live)  # its probe point came back: complete from when it was written
        subscription.check()  # the baseline of InfluxDB's failure counter
        t0 = (int(now[0]) + 60) // 60 * 60 * S  # after the subscription: complete from there
        _write(client, t0, range(0, 30))
        _until(lambda: stream.lines >= 90)
        got = stream.answer(READING, t0, t0 + 30 * S)
        want = client.query(READING.influxql(t0, t0 + 30 * S))
        assert got is not None and len(got) == len(want) == 9
        key = ["jbox_id", "time"]
        got, want = got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            got[key + ["n", "mean", "last"]], want[key + ["n", "mean", "last"]], check_dtype=False
        )

        # a post without the token is refused, and holds nothing
        refused = requests.post(f"http://127.0.0.1:{server.port}/write", data=f"telemetry,jbox_id=b9 p=1 {t0}")
        assert refused.status_code == 401
        assert stream.lines == 90

        # the receiver down: InfluxDB's posts fail, the watch sees it, the stream steps aside
        server.stop()
        _write(client, t0, range(30, 40))
        _until(lambda: subscription._losses() > 0)
        now[0] = t0 / S + 60  # the watch's next round, after the lost samples' times
        subscription.check()
        assert stream.gaps == 1
        assert stream.answer(READING, t0 + 30 * S, t0 + 40 * S) is None
    finally:
        subscription.close()
        server.stop()
    names = [row.get("name") for _, _, row in subscription._rows("SHOW SUBSCRIPTIONS")]
    assert subscription.name not in names  # dropped at stop


def test_a_user_without_the_right_to_subscribe_leaves_queries_on(client, caplog) -> None:
    stream = SampleStream()
    broken = InfluxClient(InfluxSettings.from_config(InfluxDBConfig(url=client.settings.url, database="no_such_db")))
    subscription = StreamSubscription(broken, stream, "http://jboxmon:x@127.0.0.1:9/", "test")
    assert not subscription.open()
    assert "rules stream off" in caplog.text
    assert stream.answer(READING, 0, 10 * S) is None
