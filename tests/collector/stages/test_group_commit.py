"""Stage: group commit. Every answer waits for an fsync that covers its record; under load the
requests of one ``commit_delay`` window share that fsync."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from collector.groupcommit import GroupCommitter
from collector.spool import Spool


class CountingSpool(Spool):
    """A real spool that counts its fsyncs and notes how far each one reached."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.syncs = 0

    def sync(self, position: tuple[int, int]) -> None:
        before = self._synced
        super().sync(position)
        if self._synced != before:
            self.syncs += 1


async def arrivals(committer: GroupCommitter, spool: CountingSpool, requests: int, gap_s: float) -> list[bool]:
    """``requests`` records from as many boxes, written ``gap_s`` apart (a fleet's steady load);
    for each, whether its callback came only once the spool was durable past it (and without an
    error)."""
    loop = asyncio.get_running_loop()
    answers: list[asyncio.Future] = []
    for i in range(requests):
        position = spool.write(b"m v=%d" % i)
        answered = loop.create_future()

        def durable(error, position=position, answered=answered) -> None:
            answered.set_result(error is None and spool._synced >= position)

        committer.when_durable(position, durable, f"jbox-{i:04d}")
        answers.append(answered)
        await asyncio.sleep(gap_s)
    return await asyncio.wait_for(asyncio.gather(*answers), 10)


@pytest.mark.parametrize("delay_s", [0.0, 0.02])
def test_every_answer_comes_after_an_fsync_covering_it(tmp_path: Path, delay_s: float) -> None:
    spool = CountingSpool(tmp_path).open()
    committer = GroupCommitter(spool, commit_delay_s=delay_s).start()
    try:
        durable = asyncio.run(arrivals(committer, spool, 40, 0.002))
    finally:
        committer.stop()
        spool.close()
    assert durable == [True] * 40


def test_under_load_a_window_of_requests_shares_one_fsync(tmp_path: Path) -> None:
    counts = {}
    for delay_s in (0.0, 0.03):
        spool = CountingSpool(tmp_path / str(delay_s)).open()
        committer = GroupCommitter(spool, commit_delay_s=delay_s).start()
        try:
            asyncio.run(arrivals(committer, spool, 60, 0.003))  # 180 ms of steady arrivals
        finally:
            committer.stop()
            spool.close()
        counts[delay_s] = spool.syncs
    # without a delay nearly every arrival gets its own fsync (fewer on a slow disk, whose fsyncs
    # group arrivals by themselves); a 30 ms window takes about six for the whole 180 ms
    assert counts[0.03] <= 12, counts
    assert counts[0.03] * 2 <= counts[0.0], counts


def test_a_lone_box_sending_one_request_after_another_is_not_delayed(tmp_path: Path) -> None:
    async def one_after_another(committer: GroupCommitter, spool: Spool, requests: int) -> float:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for i in range(requests):
            answered = loop.create_future()
            committer.when_durable(spool.write(b"m v=%d" % i), answered.set_result, "jbox-0001")
            assert await asyncio.wait_for(answered, 10) is None
        return time.perf_counter() - started

    spool = CountingSpool(tmp_path).open()
    committer = GroupCommitter(spool, commit_delay_s=0.05).start()
    try:
        elapsed = asyncio.run(one_after_another(committer, spool, 20))
    finally:
        committer.stop()
        spool.close()
    assert spool.syncs == 20
    assert elapsed < 0.5, f"20 sequential requests took {elapsed:.2f}s: each waited the 50 ms commit delay"
