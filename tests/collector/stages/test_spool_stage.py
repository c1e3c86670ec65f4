"""Stage: spool accepted lines, and the spool's and writer's injected clocks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.metrics import CollectorMetrics
from collector.spool import Spool, SpoolFullError, spool_lines
from collector.writer import SpoolWriter
from storage import InfluxClient


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_one_record_per_retention_policy_and_raw_is_the_default(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    position = spool_lines(spool, {"raw": ["m v=1", "m v=2"], "logs": ['log code="x"']})
    assert spool.read() == []  # nothing is readable before it is durable
    spool.sync(position)
    assert [(r.retention_policy, r.lines) for r in spool.read()] == [("", b"m v=1\nm v=2"), ("logs", b'log code="x"')]
    assert spool_lines(spool, {}) is None
    spool.close()


def test_a_full_spool_refuses(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=64).open()
    with pytest.raises(SpoolFullError):
        spool_lines(spool, {"raw": ["m v=1" * 20]})
    spool.close()


def test_the_oldest_age_follows_the_injected_clock(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    spool = Spool(tmp_path, clock=clock).open()
    spool.append(b"m v=1")
    clock.now += 3600
    assert spool.oldest_age_s() == 3600
    spool.commit(spool.read()[-1])
    assert spool.oldest_age_s() == 0
    spool.append(b"m v=2")
    clock.now += 60
    assert spool.oldest_age_s() == 60  # counted from the first undelivered append, not the first ever
    spool.close()


def test_dead_letters_are_stamped_by_the_writer_s_clock(tmp_path: Path, influx: InfluxClient) -> None:
    spool = Spool(tmp_path).open()
    writer = SpoolWriter(spool, influx, CollectorMetrics(), idle_wait_s=0.01, clock=Clock(1_234_567_890.4))
    now = time.time_ns()
    spool.append(f"typed,jbox_id=jbox-0001 v=1i {now}".encode())
    spool.append(f'typed,jbox_id=jbox-0002 v="a string now" {now + 1}'.encode())  # a type conflict: refused
    writer.start()
    try:
        for _ in range(500):
            if spool.pending_bytes == 0 and writer.dead_letters.entries():
                break
            writer._stopping.wait(0.02)
    finally:
        writer.stop()
        spool.close()
    letters = writer.dead_letters.entries()
    assert [(letter.time, letter.box, letter.policy) for letter in letters] == [(1_234_567_890.4, "jbox-0002", "raw")]
