"""Request bodies on a budget: a size read no further than the limit, and JSON no deeper than can be
decoded. Both are the client's fault and are answered 4xx (413, 400), never 500.

The size is checked against ``Content-Length`` before reading and again while streaming (a chunked
body has no length). Python's JSON decoder recurses once per nesting level; a body nested deeper than
the interpreter's recursion budget (100,000 ``[`` in a row) raises RecursionError, turned here into a
ValueError that names the problem. Alerts and silences are at most four levels deep.
"""

from __future__ import annotations

import json

from starlette.requests import Request


class BodyTooLarge(ValueError):
    """The body is larger than the endpoint accepts (HTTP 413)."""


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes is larger than the {limit} bytes accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body larger than the {limit} bytes accepted")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> object:
    """The decoded document; ValueError (with the decoder's position) when it is not JSON or too deep."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply (alerts and silences need at most 4 levels)") from None
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
