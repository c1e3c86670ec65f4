"""Stage: spooled records grouped into InfluxDB writes bounded in lines and in bytes."""

from __future__ import annotations

from collector.spool import Record
from collector.writer import _chunks


def record(offset: int, lines: int, line_bytes: int = 9) -> Record:
    body = b"\n".join([b"m v=1 %02d" % (i % 100) for i in range(lines)])[: lines * (line_bytes + 1) - 1]
    return Record(0, offset, "raw", body, None, lines)


def test_writes_hold_at_most_batch_lines_in_order() -> None:
    records = [record(i, 10) for i in range(7)]
    chunks = _chunks(records, 30, 1 << 20)
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert [r for chunk in chunks for r in chunk] == records


def test_long_lines_are_split_by_bytes_before_the_line_count() -> None:
    records = [record(i, 10) for i in range(6)]  # about 100 bytes each
    chunks = _chunks(records, 1000, 250)
    assert all(sum(len(r.lines) + 1 for r in chunk) <= 250 for chunk in chunks)
    assert [len(chunk) for chunk in chunks] == [2, 2, 2]


def test_a_record_larger_than_the_byte_bound_is_a_write_of_its_own() -> None:
    big, small = record(0, 100), record(1, 1)
    assert _chunks([small, big, small], 1000, 50) == [[small], [big], [small]]
