"""Stage: decode, by payload version (JSON) or as line protocol text."""

from __future__ import annotations

import pytest

from collector.decode import UnsupportedMediaType, decode_json, line_protocol_text
from collector.model import PayloadError
from collector.payloads import VERSIONS


def test_json_goes_through_the_version_decoder() -> None:
    body = b'{"jbox_id": "jbox-0001", "ts": 1764430000, "soc": 51.5}'
    decoded = decode_json("application/json; charset=utf-8", body, VERSIONS["v1"].decode)
    [(line, point)] = decoded.points
    assert (line, point.measurement, point.fields) == (1, "telemetry", {"soc_pct": 51.5})
    assert point.time_ns == 1764430000 * 10**9


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=f"got {content_type!r}"):
        decode_json(content_type, b"{}", VERSIONS["v2"].decode)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"header": ', "body is not valid JSON: Expecting value at line 1 column 12"),
        (b'{"a": "\xff"}', "body is not UTF-8: invalid start byte at byte 7"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[]", "body: expected a JSON object, got list"),
    ],
)
def test_unreadable_bodies_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_json("", body, VERSIONS["v2"].decode)


def test_line_protocol_text_checks_precision_and_encoding() -> None:
    assert line_protocol_text(b"m v=1 1", "s") == "m v=1 1"
    with pytest.raises(PayloadError, match="precision: expected one of ms, n, ns, s, u, us, got 'h2'"):
        line_protocol_text(b"m v=1", "h2")
    with pytest.raises(PayloadError, match="body is not UTF-8: invalid start byte at byte 0"):
        line_protocol_text(b"\xff", "ns")
