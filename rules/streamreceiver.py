"""Where InfluxDB posts the writes it forwards: ``POST /write`` (InfluxDB's own write API, as its
subscriptions speak it), Basic auth with the token drawn at start, into the :class:`SampleStream`.

A post that cannot be read whole (too big, not UTF-8, cut) is refused and the stream told of a gap:
InfluxDB counts the failure and the engine queries instead until the stream is complete again.
"""

from __future__ import annotations

import base64
import hmac

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rules.stream import SampleStream

MAX_BODY_BYTES = 64 * 1024 * 1024  # InfluxDB forwards one write request at a time


def create_receiver(stream: SampleStream, token: str, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    expected = "Basic " + base64.b64encode(f"jboxmon:{token}".encode()).decode()

    async def write(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected.encode()):
            return PlainTextResponse("a credential is needed\n", status_code=401)
        if request.query_params.get("precision", "ns") not in ("ns", "n"):
            stream.broken(f"a post with precision {request.query_params['precision']!r}")
            return PlainTextResponse("only nanosecond precision\n", status_code=400)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_body_bytes:
                    stream.broken(f"a forwarded write over {max_body_bytes} bytes")
                    return PlainTextResponse("too large\n", status_code=413)
            text = body.decode()
        except (ClientDisconnect, UnicodeDecodeError) as exc:
            stream.broken(f"a forwarded write could not be read ({type(exc).__name__})")
            return PlainTextResponse("unreadable\n", status_code=400)
        stream.feed(text)
        return Response(status_code=204)

    return Starlette(routes=[Route("/write", write, methods=["POST"])])
