"""Stage: read the body, bounded before and after gzip."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from collector.body import PayloadTooLarge, read_body
from collector.model import PayloadError


async def _stream(*chunks: bytes):
    for chunk in chunks:
        yield chunk


def read(headers: dict[str, str], *chunks: bytes, limit: int = 100) -> bytes:
    return asyncio.run(read_body(headers, _stream(*chunks), limit))


def test_chunks_are_joined_within_the_limit() -> None:
    assert read({}, b"a" * 60, b"b" * 40) == b"a" * 60 + b"b" * 40


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(PayloadTooLarge, match="body of 101 bytes exceeds the limit of 100 bytes"):
        read({"content-length": "101"})


def test_a_streamed_body_is_cut_off_at_the_limit() -> None:
    with pytest.raises(PayloadTooLarge, match="body exceeds the limit of 100 bytes"):
        read({}, b"a" * 60, b"b" * 41)


def test_gzip_is_inflated() -> None:
    assert read({"content-encoding": "gzip"}, gzip.compress(b"m v=1")) == b"m v=1"


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * 1_000_000)
    assert len(bomb) < 100 * 20
    with pytest.raises(PayloadTooLarge, match="decompressed body exceeds the limit of 100000 bytes"):
        read({"content-encoding": "GZIP"}, bomb, limit=100_000)


def test_bad_gzip_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="body is not valid gzip"):
        read({"content-encoding": "gzip"}, b"not gzip at all")
