"""The durable spool: ack after fsync, order, torn tails, bounds, concurrent appends, reload."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from collector.spool import Spool, SpoolFullError


def drain(spool: Spool) -> list[tuple[str, bytes]]:
    delivered = []
    while records := spool.read(max_lines=7):
        delivered += [(r.retention_policy, r.lines) for r in records]
        spool.commit(records[-1])
    return delivered


def test_records_come_back_in_order_with_their_policy(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    for i in range(20):
        spool.append(f"m v={i}".encode(), "logs" if i % 2 else "")
    delivered = drain(spool)
    assert [lines for _, lines in delivered] == [f"m v={i}".encode() for i in range(20)]
    assert [policy for policy, _ in delivered][:2] == ["", "logs"]
    assert spool.pending_bytes == 0
    assert spool.read() == []


def test_reopen_resumes_after_the_cursor(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    for i in range(10):
        spool.append(f"m v={i}".encode())
    first = spool.read(max_lines=4)
    spool.commit(first[-1])
    spool.close()
    reopened = Spool(tmp_path).open()
    assert [lines for _, lines in drain(reopened)] == [f"m v={i}".encode() for i in range(4, 10)]


def test_segments_rotate_and_delivered_ones_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200).open()
    for i in range(50):
        spool.append(f"measurement value={i}".encode())
    assert len(list(tmp_path.glob("*.seg"))) > 5
    assert len(drain(spool)) == 50
    assert len(list(tmp_path.glob("*.seg"))) == 1


def test_torn_tail_is_cut_and_earlier_records_survive(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()
    spool.append(b"m v=1")
    spool.append(b"m v=2")
    spool.close()
    segment = next(tmp_path.glob("*.seg"))
    with open(segment, "ab") as handle:
        handle.write(b"JS\x00\x00\x01\x00garbage")  # a crash in the middle of an append
    reopened = Spool(tmp_path).open()
    reopened.append(b"m v=3")
    assert [lines for _, lines in drain(reopened)] == [b"m v=1", b"m v=2", b"m v=3"]


def test_full_spool_refuses_instead_of_dropping(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100).open()
    spool.append(b"x" * 50)
    with pytest.raises(SpoolFullError, match="limit 100"):
        spool.append(b"y" * 50)
    drain(spool)
    spool.append(b"y" * 50)  # room again once delivered
    assert drain(spool) == [("", b"y" * 50)]


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path).open()

    def worker(n: int) -> None:
        for i in range(100):
            spool.append(f"m,t={n} v={i}".encode())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [lines for _, lines in drain(spool)]
    assert len(delivered) == 800 and len(set(delivered)) == 800
    for n in range(8):  # each writer's own order is kept
        mine = [line for line in delivered if line.startswith(f"m,t={n} ".encode())]
        assert mine == [f"m,t={n} v={i}".encode() for i in range(100)]


def test_acknowledged_records_survive_sigkill(tmp_path: Path) -> None:
    script = (
        "import sys, os\n"
        "from collector.spool import Spool\n"
        f"s = Spool({str(tmp_path)!r}).open()\n"
        "for i in range(200):\n"
        "    s.append(f'm v={i}'.encode())\n"
        "    print(i, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -9
    acknowledged = len(result.stdout.split())
    assert acknowledged == 200
    assert len(drain(Spool(tmp_path).open())) == acknowledged


def test_format_version_is_checked(tmp_path: Path) -> None:
    Spool(tmp_path).open().close()
    (tmp_path / "VERSION").write_text("99")
    with pytest.raises(RuntimeError, match="spool format '99'"):
        Spool(tmp_path).open()
    assert os.path.exists(tmp_path / "cursor") is False


def test_in_memory_bookkeeping_matches_the_directory_across_rotations(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=300).open()
    for i in range(60):
        spool.append("\n".join(f"m v={i},w={j}" for j in range(i % 3 + 1)).encode())
    assert spool.pending_lines == sum(i % 3 + 1 for i in range(60))
    while records := spool.read(max_lines=11):
        spool.commit(records[-1], sum(record.count for record in records))
        # what a fresh open measures from the files is what the running spool counted
        assert spool.pending_bytes == spool._measure_pending()
        assert sorted(spool._sizes) == spool._segments()
    assert spool.pending_bytes == 0 and spool.pending_lines == 0
    spool.close()
    reopened = Spool(tmp_path, segment_bytes=300).open()
    assert reopened.pending_bytes == 0 and reopened.read() == []


@pytest.mark.parametrize("unread_bytes", [0, 150, 1 << 20])
def test_the_writer_reads_from_memory_what_a_reopened_spool_reads_from_disk(tmp_path: Path, unread_bytes: int) -> None:
    """Records kept in memory for the writer (all, some: the bound, none) come back exactly as the
    disk gives them after a restart: same lines, policies, positions, counts and append times, in
    order, across segment rotations, a failed delivery read again; nothing unsynced handed over."""
    times = iter(range(1000))

    def fill(directory: Path, **options) -> tuple[Spool, tuple[int, int]]:
        spool = Spool(directory, segment_bytes=400, clock=lambda: float(next(times) % 40), **options).open()
        for i in range(40):
            logs = [("logs", b"l a=1\nl a=2")] if i % 4 == 0 else []
            written = spool.write_sections([("", f"m v={i}".encode()), *logs])
        return spool, written

    def deliver(spool: Spool) -> list:
        delivered = []
        while records := spool.read(max_lines=7):
            assert spool.read(max_lines=7) == records  # read again (a failed delivery is retried)
            spool.commit(records[-1])
            delivered += records
        return delivered

    live, written = fill(tmp_path / "live", unread_bytes=unread_bytes)
    assert live.read() == []  # written, not synced: neither memory nor disk hands it over
    live.sync(written)
    restarted, _ = fill(tmp_path / "restarted")
    restarted.close()
    from_memory, from_disk = deliver(live), deliver(Spool(tmp_path / "restarted", segment_bytes=400).open())
    assert from_memory == from_disk
    assert [int(record.lines[4:]) for record in from_memory if record.retention_policy == ""] == list(range(40))
    assert len(from_memory) == 50 and from_memory[0].count == 1 and from_memory[1].count == 2
    assert live._unread == {} and live._unread_size == 0
