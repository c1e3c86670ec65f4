"""HTTP API of the alerting service, Alertmanager-compatible where Alertmanager has the call.

- ``POST /api/v2/alerts`` (a JSON list, as Prometheus, vmalert or Grafana send), ``GET /api/v2/alerts``
- ``GET|POST /api/v2/silences``, ``GET|DELETE /api/v2/silence/{id}`` (a silence may carry ``recurrence``)
- ``GET /api/v1/history?box=&alertname=&kind=&since=24h&limit=`` (jboxmon's own)
- ``GET /api/v2/status``, ``GET /health``, ``GET /metrics``, ``POST /-/reload``
"""

from __future__ import annotations

import json
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alerting.alerts import AlertFormatError, parse_time
from alerting.matchers import matches_all, parse
from alerting.service import AlertingService
from alerting.silences import Silence, SilenceError
from config.durations import parse_duration

MAX_BODY_BYTES = 32 * 1024 * 1024  # 10,000 alerts with labels and annotations fit comfortably


def create_app(service: AlertingService, reload: Callable[[], str | None] | None = None) -> Starlette:
    """``reload`` re-reads the config file and returns an error text, or None when applied."""

    async def _json(request: Request) -> object:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise ValueError(f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ValueError(f"invalid JSON: {exc}") from exc

    async def post_alerts(request: Request) -> Response:
        try:
            items = await _json(request)
            await run_in_threadpool(service.receive, items)
        except (AlertFormatError, ValueError) as exc:
            return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
        return JSONResponse({})

    async def get_alerts(request: Request) -> Response:
        """Alertmanager's filters: ``filter`` (matchers, repeatable), ``active``, ``silenced``, ``inhibited``."""
        q = request.query_params
        try:
            matchers = parse(q.getlist("filter"))
        except ValueError as exc:
            return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
        wanted = {key: q.get(key, "true").lower() != "false" for key in ("active", "silenced", "inhibited")}
        views = []
        for view in await run_in_threadpool(service.alert_views):
            status = view["status"]
            kind = "silenced" if status["silencedBy"] else "inhibited" if status["inhibitedBy"] else "active"
            if wanted[kind] and matches_all(matchers, view["labels"]):
                views.append(view)
        return JSONResponse(views)

    async def list_silences(request: Request) -> Response:
        now = service.clock()
        return JSONResponse([s.to_api(now) for s in service.silences.list()])

    async def post_silence(request: Request) -> Response:
        try:
            body = await _json(request)
            silence = Silence.from_api(body, service.clock())
            if isinstance(body, dict) and body.get("id"):
                service.silences.get(body["id"])  # updating needs an existing id
            service.silences.put(silence)
        except (SilenceError, ValueError) as exc:
            return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
        return JSONResponse({"silenceID": silence.id})

    async def get_silence(request: Request) -> Response:
        try:
            silence = service.silences.get(request.path_params["id"])
        except SilenceError as exc:
            return JSONResponse({"code": 404, "message": str(exc)}, status_code=404)
        return JSONResponse(silence.to_api(service.clock()))

    async def delete_silence(request: Request) -> Response:
        try:
            service.silences.expire(request.path_params["id"])
        except SilenceError as exc:
            return JSONResponse({"code": 404, "message": str(exc)}, status_code=404)
        return JSONResponse({})

    async def history(request: Request) -> Response:
        q = request.query_params
        try:
            since = _since(q.get("since", "24h"), service.clock())
            limit = int(q.get("limit", "1000"))
        except ValueError as exc:
            return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
        events = await run_in_threadpool(service.history.query, since=since, box=q.get("box"),
                                         alertname=q.get("alertname"), kind=q.get("kind"), limit=limit)  # fmt: skip
        return JSONResponse({"events": [e.to_api() for e in events]})

    async def status(request: Request) -> Response:
        depth, oldest = service.outbox.depth()
        return JSONResponse({
            "config": {"receivers": [r.name for r in service.config.receivers]},
            "outbox": {"depth": depth, "oldest": oldest},
            "groups": len(service.dispatcher.groups),
        })  # fmt: skip

    async def health(request: Request) -> Response:
        loops = service.loops.problems()  # the grouper or a sender dead, failing or stuck
        if loops:
            return JSONResponse({"status": f"degraded: {'; '.join(loops)}", "loops": loops}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        await run_in_threadpool(service.update_metrics)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def do_reload(request: Request) -> Response:
        if reload is None:
            return JSONResponse({"reloaded": False, "error": "no config file to reload"}, status_code=400)
        error = await run_in_threadpool(reload)
        return JSONResponse({"reloaded": error is None, "error": error}, status_code=200 if error is None else 400)

    return Starlette(
        routes=[
            Route("/api/v2/alerts", post_alerts, methods=["POST"]),
            Route("/api/v2/alerts", get_alerts, methods=["GET"]),
            Route("/api/v2/silences", list_silences, methods=["GET"]),
            Route("/api/v2/silences", post_silence, methods=["POST"]),
            Route("/api/v2/silence/{id}", get_silence, methods=["GET"]),
            Route("/api/v2/silence/{id}", delete_silence, methods=["DELETE"]),
            Route("/api/v1/history", history),
            Route("/api/v2/status", status),
            Route("/health", health),
            Route("/metrics", metrics),
            Route("/-/reload", do_reload, methods=["POST"]),
        ]
    )


def _since(text: str, now: float) -> float:
    """``24h`` (a duration back from now) or an RFC 3339 time."""
    try:
        return now - parse_duration(text)
    except ValueError:
        return parse_time(text, "since")
