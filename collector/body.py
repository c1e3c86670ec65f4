"""Read a request body within the size limit, gunzipping it when it says it is gzip.

The limit holds before and after decompression: a declared Content-Length over it is refused
without reading, a streamed body is cut off at the limit, and a small gzip bomb cannot expand
past it in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, Mapping

from collector.model import PayloadError


class PayloadTooLarge(Exception):
    """The body (or its decompressed form) exceeds ``collector.max_body_bytes``: 413."""


async def read_body(headers: Mapping[str, str], stream: AsyncIterable[bytes], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if headers.get("content-encoding", "").lower() == "gzip":
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
