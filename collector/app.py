"""HTTP layer of the collector (Starlette): routes, and the stages a request goes through.

A POST is taken through: check the payload version's lifecycle (collector/versions.py) ->
authenticate (collector/auth.py) -> read the bounded body (collector/body.py) -> decode by payload
version (collector/decode.py) -> validate -> rate-limit -> spool (collector/service.py) -> wait
for fsync (collector/groupcommit.py) -> answer. A failing stage raises; collector/problems.py is
the one table from those exceptions to HTTP statuses. Accepted data is answered 204 (line
protocol, as InfluxDB) or 202 (JSON) only once durably spooled; a partial write is a 400 that
keeps the good lines and names the first bad one, as InfluxDB does.

The JSON telemetry routes come from the payload-version registry (collector/payloads/).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector import payloads
from collector.auth import authenticate
from collector.body import read_body
from collector.decode import decode_json, line_protocol_text
from collector.groupcommit import GroupCommitter
from collector.openapi import build_openapi, openapi
from collector.payloads import Decoder, PayloadVersion
from collector.problems import HANDLED, problem_response
from collector.service import IngestResult, IngestService
from collector.versions import check_version
from inventory import Box

log = logging.getLogger(__name__)

INLINE_BODY_BYTES = 64 * 1024  # larger bodies are decoded in a worker thread: the event loop stays responsive


class JsonBody:
    """Decode a JSON body with one payload decoder, then validate, rate-limit and spool it."""

    no_content = False  # answered 202 with the accepted count

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def __call__(self, service: IngestService, request: Request, body: bytes, box: Box) -> IngestResult:
        decoded = decode_json(request.headers.get("content-type", "application/json"), body, self.decoder)
        return service.accept(box, decoded)


class LineProtocolBody:
    """A line-protocol body (InfluxDB's /write and /api/v2/write), on the fast validation path."""

    no_content = True  # answered 204, as InfluxDB does

    def __call__(self, service: IngestService, request: Request, body: bytes, box: Box) -> IngestResult:
        precision = request.query_params.get("precision", "ns")
        return service.accept_lines(box, line_protocol_text(body, precision), precision)


class IngestEndpoint:
    """One POST route of the pipeline; ``version`` names a JSON payload version ('' for the others)."""

    def __init__(
        self,
        service: IngestService,
        committer: GroupCommitter,
        path: str,
        handler: JsonBody | LineProtocolBody,
        version: str = "",
    ) -> None:
        self.service = service
        self.committer = committer
        self.path = path
        self.handler = handler
        self.version = version

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        service = self.service
        headers: dict[str, str] = {}
        try:
            if self.version:
                policy = service.config.payload_versions.get(self.version)
                headers = check_version(policy, self.version, service.clock())
            box = authenticate(service.authenticate, request.headers, request.query_params)
            body = await read_body(request.headers, request.stream(), service.config.max_body_bytes)
            if len(body) > INLINE_BODY_BYTES:
                result = await run_in_threadpool(self.handler, service, request, body, box)
            else:
                result = self.handler(service, request, body, box)
            await self.committer.durable(result.position)
            if headers:
                self._deprecated(box, headers)
            response = _result_response(self.handler.no_content, result, headers)
        except HANDLED as exc:
            response = problem_response(exc, headers)
        service.metrics.requests.labels(self.path, str(response.status_code), self.version).inc()
        service.metrics.ack_latency.labels(self.path).observe(time.perf_counter() - started)
        return response

    def _deprecated(self, box: Box, headers: dict[str, str]) -> None:
        self.service.metrics.deprecated.labels(self.version).inc()
        if self.service.should_warn_deprecated(box.jbox_id, self.version):
            sunset = headers.get("Sunset", "")
            log.warning("%s uses deprecated payload %s (%s)", box.jbox_id, self.version, sunset)


class StatusEndpoints:
    """The GET routes: health (InfluxDB reachable, spool state), Prometheus metrics, the OpenAPI document."""

    def __init__(self, service: IngestService, document: dict) -> None:
        self.service = service
        self.document = document

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self.document)

    async def health(self, request: Request) -> Response:
        writer = self.service.writer
        status = 200 if writer.healthy else 503
        body = {
            "status": "ok" if status == 200 else f"degraded: {writer.problem or 'InfluxDB unreachable'}, spooling",
            "spool_bytes": self.service.spool.pending_bytes,
            "spool_oldest_age_s": round(self.service.spool.oldest_age_s(), 1),
        }
        return JSONResponse(body, status_code=status)

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def ping(request: Request) -> Response:
    # InfluxDB clients (and Telegraf) call /ping before writing
    return Response(status_code=204, headers={"X-Influxdb-Version": "jboxmon-collector"})


def ingest_endpoints(
    service: IngestService, committer: GroupCommitter, registry: Mapping[str, PayloadVersion] = payloads.VERSIONS
) -> list[IngestEndpoint]:
    """One endpoint per payload version of ``registry``, then logs and the InfluxDB-compatible writes."""
    unknown = sorted(set(service.config.payload_versions) - set(registry))
    if unknown:  # config's name tuple and the registry drifted apart: refuse to start half-configured
        raise ValueError(f"collector.payload_versions: {unknown[0]!r} has no decoder in collector/payloads/")
    endpoints = [
        IngestEndpoint(service, committer, version.path, JsonBody(version.decode), version.name)
        for version in registry.values()
    ]
    return [
        *endpoints,
        IngestEndpoint(service, committer, "/v1/logs", JsonBody(payloads.LOG_DECODER)),
        IngestEndpoint(service, committer, "/write", LineProtocolBody()),
        IngestEndpoint(service, committer, "/api/v2/write", LineProtocolBody()),
    ]


def create_app(
    service: IngestService, committer: GroupCommitter, registry: Mapping[str, PayloadVersion] = payloads.VERSIONS
) -> Starlette:
    """The collector's application; ``registry`` is the payload versions it serves (all, by default)."""
    status = StatusEndpoints(service, openapi() if registry is payloads.VERSIONS else build_openapi(registry))
    endpoints = ingest_endpoints(service, committer, registry)
    routes = [Route(e.path, e.handle, methods=["POST"]) for e in endpoints]
    routes += [
        Route("/health", status.health, methods=["GET"]),
        Route("/ping", ping, methods=["GET", "HEAD"]),
        Route("/metrics", status.metrics, methods=["GET"]),
        Route("/openapi.json", status.openapi, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _result_response(no_content: bool, result: IngestResult, headers: dict[str, str]) -> Response:
    if not result.errors:
        if no_content:
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
