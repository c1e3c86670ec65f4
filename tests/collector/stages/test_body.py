"""Stage: the body, bounded before and after gzip (the server marks a body over the limit ``oversize``)."""

from __future__ import annotations

import gzip

import pytest

from collector.body import PayloadTooLarge, request_body
from collector.http11 import HttpRequest
from collector.model import PayloadError


def body_of(headers: dict[str, str], body: bytes, limit: int = 100, oversize: bool = False) -> bytes:
    request = HttpRequest("POST", b"/write", headers, body, True)
    request.oversize = oversize
    return request_body(request, limit)


def test_a_plain_body_is_given_as_read() -> None:
    assert body_of({}, b"a" * 100) == b"a" * 100


def test_a_declared_length_over_the_limit_names_it() -> None:
    with pytest.raises(PayloadTooLarge, match="body of 101 bytes exceeds the limit of 100 bytes"):
        body_of({"content-length": "101"}, b"", oversize=True)


def test_a_streamed_body_cut_off_at_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge, match="body exceeds the limit of 100 bytes"):
        body_of({"transfer-encoding": "chunked"}, b"", oversize=True)


def test_gzip_is_inflated() -> None:
    assert body_of({"content-encoding": "gzip"}, gzip.compress(b"m v=1")) == b"m v=1"


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * 1_000_000)
    assert len(bomb) < 100 * 20
    with pytest.raises(PayloadTooLarge, match="decompressed body exceeds the limit of 100000 bytes"):
        body_of({"content-encoding": "GZIP"}, bomb, limit=100_000)


def test_bad_gzip_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="body is not valid gzip"):
        body_of({"content-encoding": "gzip"}, b"not gzip at all")
