"""HTTP layer of the collector: its routes, and the stages an ingestion request goes through.

A POST, read whole within the body limit by the server (collector/http11.py), is taken through:
check the payload version's lifecycle (collector/versions.py) -> authenticate (collector/auth.py)
-> the body, gunzipped when it says so (collector/body.py) -> decode by payload
version (collector/decode.py) -> validate -> rate-limit -> spool (collector/service.py) -> wait
for fsync (collector/groupcommit.py) -> answer. A failing stage raises; collector/problems.py is
the one table from those exceptions to HTTP statuses. Accepted data is answered 204 (line
protocol, as InfluxDB) or 202 (JSON) only once durably spooled; a partial write is a 400 that
keeps the good lines and names the first bad one, as InfluxDB does.

The JSON telemetry routes come from the payload-version registry (collector/payloads/).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector import payloads
from collector.asgi import AsgiFallback
from collector.auth import authenticate
from collector.body import request_body
from collector.decode import decode_json, json_media_type, line_protocol_text
from collector.edgemetrics import EdgeMetrics
from collector.groupcommit import GroupCommitter
from collector.http11 import HttpRequest, Reply
from collector.httplimits import HttpLimits
from collector.httpserver import HttpServer
from collector.openapi import build_openapi, openapi
from collector.payloads import Decoder, PayloadVersion
from collector.problems import HANDLED, problem_response
from collector.service import IngestResult, IngestService
from collector.versions import check_version
from config.collector import CollectorConfig
from inventory import Box

log = logging.getLogger(__name__)

INLINE_BODY_BYTES = 64 * 1024  # larger bodies are decoded in a worker thread: the event loop stays responsive


class JsonBody:
    """Decode a JSON body with one payload decoder, then validate, rate-limit and spool it."""

    no_content = False  # answered 202 with the accepted count
    boxes_only = True  # a box's own payload: a site gateway's token is refused (403) before the body

    def __init__(self, decoder: Decoder, version: str = "") -> None:
        self.decoder = decoder
        self.version = version  # a version with a fast path (collector/fastjson.py) tries it first

    def __call__(self, service: IngestService, request: HttpRequest, body: bytes, box: Box) -> IngestResult:
        content_type = request.headers.get("content-type", "application/json")
        if self.version and json_media_type(content_type):
            result = service.accept_fast(self.version, box, body)
            if result is not None:
                return result
        decoded = decode_json(content_type, body, self.decoder)
        return service.accept(box, decoded)


class LineProtocolBody:
    """A line-protocol body (InfluxDB's /write and /api/v2/write), on the fast validation path."""

    no_content = True  # answered 204, as InfluxDB does
    boxes_only = False

    def __call__(self, service: IngestService, request: HttpRequest, body: bytes, box: Box) -> IngestResult:
        precision = request.query_params.get("precision", "ns")
        return service.accept_lines(box, line_protocol_text(body, precision), precision)


class IngestEndpoint:
    """One POST route of the pipeline; ``version`` names a JSON payload version ('' for the others).

    A route of collector/http11.py's server: ``admit(request)`` is its gate, run on the headers
    alone (payload version, token, scope), so a request without a valid token is refused before its
    body is read; ``serve(request, reply)`` runs the synchronous stages at once (a large body in a
    worker thread) and calls ``reply`` when the spool is durable."""

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
        # the labelled metric children, looked up once rather than on every request
        self._latency = service.metrics.ack_latency.labels(path)
        self._counters: dict[int, object] = {}

    def _counter(self, status: int):
        counter = self._counters.get(status)
        if counter is None:
            counter = self._counters[status] = self.service.metrics.requests.labels(
                self.path, str(status), self.version
            )
        return counter

    def admit(self, request: HttpRequest) -> Exception | None:
        """The gate: None to read the body (the principal kept in ``request.admitted``), or the refusal."""
        service = self.service
        try:
            if self.version:  # the lifecycle headers, kept for the answer (refusals carry them too)
                request.reply_headers = check_version(
                    service.config.payload_versions.get(self.version), self.version, service.clock()
                )
            principal = authenticate(service.authenticate, request.headers, request.query_params)
            if self.handler.boxes_only:
                service.check_json_writer(principal)  # the scope itself is built once, by the handler
        except HANDLED as exc:
            return exc
        request.admitted = principal
        return None

    def serve(self, request: HttpRequest, reply: Reply) -> None:
        started = time.perf_counter()
        service = self.service
        headers: dict[str, str] = request.reply_headers or {}
        try:
            if self.version and request.reply_headers is None:  # no gate saw it (tests of the stages)
                policy = service.config.payload_versions.get(self.version)
                headers = check_version(policy, self.version, service.clock())
            if request.refusal is not None:  # refused by the gate: its body was never read
                raise request.refusal
            box = request.admitted
            if box is None:  # a server without gates (tests of the stages)
                box = authenticate(service.authenticate, request.headers, request.query_params)
            body = request_body(request, service.config.max_body_bytes)
            if len(body) > INLINE_BODY_BYTES:
                pending = asyncio.get_running_loop().run_in_executor(None, self.handler, service, request, body, box)
                pending.add_done_callback(lambda done: self._handled(done, box, headers, reply, started))
                return
            result = self.handler(service, request, body, box)
        except HANDLED as exc:
            self._answer(problem_response(exc, headers), reply, started)
            return
        self._when_durable(result, box, headers, reply, started)

    def _handled(self, done: asyncio.Future, box: Box, headers: dict[str, str], reply: Reply, started: float) -> None:
        try:
            result = done.result()
        except HANDLED as exc:
            self._answer(problem_response(exc, headers), reply, started)
            return
        except Exception:
            log.exception("ingesting a large body for %s failed", box.jbox_id)
            self._answer(_INTERNAL_ERROR, reply, started)
            return
        self._when_durable(result, box, headers, reply, started)

    def _when_durable(
        self, result: IngestResult, box: Box, headers: dict[str, str], reply: Reply, started: float
    ) -> None:
        def durable(error: Exception | None) -> None:
            if error is not None:  # the spool's disk failed: nothing is acknowledged (logged by the committer)
                self._answer(_INTERNAL_ERROR, reply, started)
                return
            if headers:
                self._deprecated(box, headers)
            self._answer(_result_response(self.handler.no_content, result, headers), reply, started)

        if result.position is None:
            durable(None)
        else:
            self.committer.when_durable(result.position, durable, box)

    def _answer(self, response: Response | Accepted, reply: Reply, started: float) -> None:
        self._counter(response.status_code).inc()
        self._latency.observe(time.perf_counter() - started)
        reply(response.status_code, response.raw_headers, response.body)

    def _deprecated(self, box: Box, headers: dict[str, str]) -> None:
        self.service.metrics.deprecated.labels(self.version).inc()
        if self.service.should_warn_deprecated(box.jbox_id, self.version):
            sunset = headers.get("Sunset", "")
            log.warning("%s uses deprecated payload %s (%s)", box.jbox_id, self.version, sunset)


class Accepted:
    """The usual answer, 204 or 202 ``{"accepted": n}``, built bare: a Starlette response for it
    cost more than the rest of a small request's answer."""

    __slots__ = ("body", "raw_headers", "status_code")

    _JSON = [(b"content-type", b"application/json")]

    def __init__(self, accepted: int | None) -> None:
        self.status_code = 204 if accepted is None else 202
        self.body = b"" if accepted is None else b'{"accepted":%d}' % accepted
        self.raw_headers = [] if accepted is None else self._JSON


_INTERNAL_ERROR = Response("spool write failed", status_code=500, media_type="text/plain")


class StatusEndpoints:
    """The GET routes: health (InfluxDB reachable, spool state), Prometheus metrics, the OpenAPI document."""

    def __init__(self, service: IngestService, document: dict) -> None:
        self.service = service
        self.document = document

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self.document)

    async def health(self, request: Request) -> Response:
        writer = self.service.writer
        loops = self.service.loops.problems()  # a dead, failing or stuck background loop, by name
        problems = ([] if writer.healthy else [f"{writer.problem or 'InfluxDB unreachable'}, spooling"]) + loops
        try:  # reads the oldest record: with no file descriptor left, /health must still answer
            age = round(self.service.spool.oldest_age_s(), 1)
        except OSError as exc:
            age = None
            problems.append(f"spool unreadable: {exc}")
        body = {
            "status": f"degraded: {'; '.join(problems)}" if problems else "ok",
            "loops": loops,
            "spool_bytes": self.service.spool.pending_bytes,
            "spool_oldest_age_s": age,
        }
        status = 503 if problems else 200
        inventory = self.service.tokens.problem
        if inventory:  # still 200 when InfluxDB is fine: known tokens keep being served from memory
            body["inventory"] = inventory
            if status == 200:
                body["status"] = "degraded: inventory unreachable, serving known tokens"
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
        IngestEndpoint(service, committer, version.path, JsonBody(version.decode, version.name), version.name)
        for version in registry.values()
    ]
    return [
        *endpoints,
        IngestEndpoint(service, committer, "/v1/logs", JsonBody(payloads.LOG_DECODER)),
        IngestEndpoint(service, committer, "/write", LineProtocolBody()),
        IngestEndpoint(service, committer, "/api/v2/write", LineProtocolBody()),
    ]


def create_app(
    service: IngestService,
    committer: GroupCommitter,
    registry: Mapping[str, PayloadVersion] = payloads.VERSIONS,
    scheme: str = "http",
) -> HttpServer:
    """The collector's HTTP server; ``registry`` is the payload versions it serves (all, by default).

    Ingestion POSTs are routes of the server itself (collector/http11.py); everything else, health,
    metrics, the OpenAPI document, /ping and the 404/405 answers, is a small Starlette app."""
    status = StatusEndpoints(service, openapi() if registry is payloads.VERSIONS else build_openapi(registry))
    endpoints = ingest_endpoints(service, committer, registry)
    # the ingestion paths are listed for Starlette's 405 to a GET; their POSTs never reach it
    routes = [Route(e.path, _served_by_the_protocol, methods=["POST"]) for e in endpoints]
    routes += [
        Route("/health", status.health, methods=["GET"]),
        Route("/ping", ping, methods=["GET", "HEAD"]),
        Route("/metrics", status.metrics, methods=["GET"]),
        Route("/openapi.json", status.openapi, methods=["GET"]),
    ]
    server = HttpServer(
        {e.path: e.serve for e in endpoints},
        AsgiFallback(Starlette(routes=routes), scheme),
        http_limits(service.config),
        gates={e.path: e.admit for e in endpoints},
        routeless_bodies_unread=True,  # health, metrics, OpenAPI, /ping: no body
    )
    EdgeMetrics(server).register(service.metrics.registry)
    return server


def http_limits(config: CollectorConfig) -> HttpLimits:
    edge = config.http
    return HttpLimits(
        max_body_bytes=config.max_body_bytes,
        keep_alive_s=edge.keep_alive,
        head_timeout_s=edge.head_timeout,
        body_timeout_s=edge.body_timeout,
        body_min_rate=edge.body_min_rate,
        max_connections=edge.max_connections,
        max_connections_per_client=edge.max_connections_per_client,
        inflight_body_bytes=edge.inflight_body_bytes,
    )


async def _served_by_the_protocol(request: Request) -> Response:
    raise RuntimeError("ingestion POSTs are routes of collector/http11.py's server")


def _result_response(no_content: bool, result: IngestResult, headers: dict[str, str]) -> Response | Accepted:
    if not result.errors:
        if headers:  # lifecycle headers of a deprecated version: the general response builds them
            if no_content:
                return Response(status_code=204, headers=headers)
            return JSONResponse({"accepted": result.accepted}, status_code=202, headers=headers)
        return Accepted(None if no_content else result.accepted)
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
