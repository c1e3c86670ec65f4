"""The request body within the size limit, gunzipped when it says it is gzip.

The limit holds before and after decompression: the server (collector/http11.py) refuses a
declared Content-Length over it without reading and stops reading a streamed body at it, marking
the request ``oversize``; a small gzip bomb cannot expand past it in memory.
"""

from __future__ import annotations

import zlib

from collector.http11 import HttpRequest
from collector.model import PayloadError


class PayloadTooLarge(Exception):
    """The body (or its decompressed form) exceeds ``collector.max_body_bytes``: 413."""


def request_body(request: HttpRequest, limit: int) -> bytes:
    """The body to decode; raises PayloadTooLarge or PayloadError (bad gzip)."""
    if request.oversize:
        declared = request.headers.get("content-length", "")
        size = f"of {declared} bytes " if declared.isdigit() else ""
        raise PayloadTooLarge(f"body {size}exceeds the limit of {limit} bytes")
    body = request.body
    if request.headers.get("content-encoding", "").lower() == "gzip":
        body = gunzip(body, limit)
    return body


def gunzip(body: bytes, limit: int) -> bytes:
    """Bounded decompression: raises PayloadTooLarge past ``limit`` bytes, PayloadError on bad gzip."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        output = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from None
    if len(output) > limit or decompressor.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
    return output
