"""Decode a request body by its kind: JSON through a payload version's decoder, or line protocol text.

Line protocol is only turned into text here: its parsing is fused with validation on the fast
path (collector/fastlines.py), since splitting them would cost a second pass over every line.
"""

from __future__ import annotations

import json

from collector.model import Decoded, PayloadError
from collector.payloads import Decoder
from storage.lineparser import PRECISION_NS


class UnsupportedMediaType(Exception):
    """A JSON endpoint received another content type: 415."""


def json_media_type(content_type: str) -> bool:
    """True when ``content_type`` says JSON (or says nothing)."""
    return content_type.split(";")[0].strip().lower() in ("application/json", "")


def decode_json(content_type: str, body: bytes, decoder: Decoder) -> Decoded:
    """Parse ``body`` as JSON and hand it to ``decoder``; raises PayloadError naming what is wrong."""
    if not json_media_type(content_type):
        media_type = content_type.split(";")[0].strip().lower()
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {media_type!r}")
    try:
        parsed = json.loads(body)
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise PayloadError("body is not valid JSON: nested too deeply") from None
    return decoder(parsed)


def line_protocol_text(body: bytes, precision: str) -> str:
    """The body as text, once ``precision`` is one InfluxDB knows; raises PayloadError otherwise."""
    if precision not in PRECISION_NS:
        raise PayloadError(f"precision: expected one of {', '.join(sorted(PRECISION_NS))}, got {precision!r}")
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
