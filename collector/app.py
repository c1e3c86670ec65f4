"""HTTP layer of the collector (Starlette): routes, status codes, headers.

Status decisions, and why:
- 204 / 202: accepted data is durably spooled (fsync) before the answer.
- 400: a malformed body, or a partial write (good lines kept, first bad line named): as InfluxDB.
- 401: no token, or unknown/revoked/expired token. 403: the token's box differs from the data's.
- 410: a payload version past its sunset date; the body names the replacement.
- 413 / 415: body too large / not the expected content type.
- 429 / 503 + Retry-After: rate limit / spool full. Both tell the client its data was NOT taken,
  so it must retry; we never drop silently.
"""

from __future__ import annotations

import json
import logging
import time
import zlib

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector import payloads
from collector.auth import token_from
from collector.groupcommit import GroupCommitter
from collector.lineparser import PRECISION_NS
from collector.model import PayloadError
from collector.openapi import OPENAPI
from collector.service import IngestResult, IngestService, RateLimited
from collector.spool import SpoolFullError
from collector.validate import ForbiddenError
from collector.versions import version_headers

log = logging.getLogger(__name__)

INLINE_BODY_BYTES = 64 * 1024


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def create_app(service: IngestService, committer: GroupCommitter) -> Starlette:
    config = service.config
    metrics = service.metrics

    async def read_body(request: Request) -> bytes:
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise HTTPProblem(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPProblem(413, f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = _gunzip(body, limit)
        return body

    def box_for(request: Request):
        box = service.authenticate(token_from(request.headers, request.query_params))
        if box is None:
            raise HTTPProblem(401, "missing, unknown, revoked or expired token", {"WWW-Authenticate": "Token"})
        return box

    async def ingest(request: Request, endpoint: str, decode, version: str = "") -> Response:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        try:
            if version:
                headers, gone = version_headers(config.payload_versions.get(version), version, service.clock())
                if gone:
                    raise HTTPProblem(410, gone, headers)
            box = box_for(request)
            body = await read_body(request)
            if len(body) > INLINE_BODY_BYTES:  # keep the event loop responsive for big bodies
                result = await run_in_threadpool(decode, request, body, box)
            else:
                result = decode(request, body, box)
            await committer.durable(result.position)
            if headers:
                metrics.deprecated.labels(version).inc()
                if service.should_warn_deprecated(box.jbox_id, version):
                    log.warning("%s uses deprecated payload %s (%s)", box.jbox_id, version, headers.get("Sunset", ""))
            response = _result_response(endpoint, result, headers)
        except HTTPProblem as problem:
            response = _problem(problem.status, str(problem), {**headers, **problem.headers})
        except PayloadError as exc:
            response = _problem(400, str(exc), headers)
        except ForbiddenError as exc:
            response = _problem(403, str(exc), headers)
        except RateLimited as exc:
            response = _problem(429, str(exc), {**headers, "Retry-After": str(max(1, round(exc.retry_after_s)))})
        except SpoolFullError:
            response = _problem(503, "ingestion is saturated: retry later", {**headers, "Retry-After": "5"})
        metrics.requests.labels(endpoint, str(response.status_code), version).inc()
        metrics.ack_latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    def json_decoder(decoder):
        def decode(request: Request, body: bytes, box) -> IngestResult:
            content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
            if content_type not in ("application/json", ""):
                raise HTTPProblem(415, f"expected Content-Type application/json, got {content_type!r}")
            try:
                parsed = json.loads(body)
            except UnicodeDecodeError as exc:
                raise PayloadError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
            except json.JSONDecodeError as exc:
                raise PayloadError(
                    f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                ) from None
            except RecursionError:
                raise PayloadError("body is not valid JSON: nested too deeply") from None
            return service.accept(box, decoder(parsed))

        return decode

    def line_protocol(request: Request, body: bytes, box) -> IngestResult:
        precision = request.query_params.get("precision", "ns")
        if precision not in PRECISION_NS:
            raise PayloadError(f"precision: expected one of {', '.join(sorted(PRECISION_NS))}, got {precision!r}")
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise PayloadError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
        return service.accept_lines(box, text, precision)

    def telemetry_route(version: str):
        async def handler(request: Request) -> Response:
            return await ingest(request, f"/{version}/telemetry", json_decoder(payloads.DECODERS[version]), version)

        return handler

    async def logs(request: Request) -> Response:
        return await ingest(request, "/v1/logs", json_decoder(payloads.LOG_DECODER))

    async def write_v1(request: Request) -> Response:
        return await ingest(request, "/write", line_protocol)

    async def write_v2(request: Request) -> Response:
        return await ingest(request, "/api/v2/write", line_protocol)

    async def health(request: Request) -> Response:
        status = 200 if service.writer.healthy else 503
        body = {
            "status": "ok" if status == 200 else "degraded: InfluxDB unreachable, spooling",
            "spool_bytes": service.spool.pending_bytes,
            "spool_oldest_age_s": round(service.spool.oldest_age_s(), 1),
        }
        return JSONResponse(body, status_code=status)

    async def ping(request: Request) -> Response:
        # InfluxDB clients (and Telegraf) call /ping before writing
        return Response(status_code=204, headers={"X-Influxdb-Version": "jboxmon-collector"})

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    routes = [
        Route("/v1/telemetry", telemetry_route("v1"), methods=["POST"]),
        Route("/v2/telemetry", telemetry_route("v2"), methods=["POST"]),
        Route("/v1/logs", logs, methods=["POST"]),
        Route("/write", write_v1, methods=["POST"]),
        Route("/api/v2/write", write_v2, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/ping", ping, methods=["GET", "HEAD"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _result_response(endpoint: str, result, headers: dict[str, str]) -> Response:
    if not result.errors:
        if endpoint in ("/write", "/api/v2/write"):
            return Response(status_code=204, headers=headers)
        return JSONResponse({"accepted": result.accepted}, status_code=202, headers=headers)
    first = result.errors[0].describe()
    message = f"partial write: {first}" if result.accepted else f"no point accepted: {first}"
    if result.rejected > 1:
        message += f" (and {result.rejected - 1} more)"
    message += f" dropped={result.rejected}"
    body = {
        "error": message,
        "code": "invalid",
        "message": message,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "errors": [e.describe() for e in result.errors[:20]],
    }
    return JSONResponse(body, status_code=400, headers=headers)


def _problem(status: int, message: str, headers: dict[str, str]) -> Response:
    # both InfluxDB 1.x ("error") and 2.x ("code", "message") error shapes, so their clients show it
    code = {
        401: "unauthorized",
        403: "forbidden",
        404: "not found",
        410: "gone",
        413: "request too large",
        429: "too many requests",
        503: "unavailable",
    }.get(status, "invalid")
    return JSONResponse({"error": message, "code": code, "message": message}, status_code=status, headers=headers)


def _gunzip(body: bytes, limit: int) -> bytes:
    # bounded decompression: a small gzip bomb must not exhaust memory
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        output = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from None
    if len(output) > limit or decompressor.unconsumed_tail:
        raise HTTPProblem(413, f"decompressed body exceeds the limit of {limit} bytes")
    return output
