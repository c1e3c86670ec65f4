"""HTTP API of the alerting service, Alertmanager-compatible where Alertmanager has the call.

- ``POST /api/v2/alerts`` (a JSON list, as Prometheus, vmalert or Grafana send), ``GET /api/v2/alerts``
- ``GET|POST /api/v2/silences``, ``GET|DELETE /api/v2/silence/{id}`` (a silence may carry ``recurrence``)
- ``GET /api/v1/history?box=&alertname=&kind=&since=24h&limit=`` (jboxmon's own)
- ``GET /api/v2/status``, ``GET /health``, ``GET /metrics``, ``POST /-/reload``
- ``GET /api/v1/audit?since=24h&actor=&action=&limit=`` (who changed what: the inventory's audit log)

Every route is behind the control-plane access middleware (``inventory.access``): reads need the
viewer role, posting alerts a producer or operator, silences an operator, reload an admin. Changes
made by people (silences, alerts posted or resolved by an operator, reloads) go to the audit log;
a silence's ``createdBy`` is the authenticated operator, not what the client wrote.
"""

from __future__ import annotations

import dataclasses
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
from inventory.access import AccessPolicy, ControlPlaneAccess, Need, Rule, identity_of
from inventory.audit import AuditLog

ACCESS_RULES = (
    Rule("POST", "/api/v2/alerts", Need.POST_ALERTS),
    Rule("POST", "/api/v2/silences", Need.SILENCE),
    Rule("DELETE", "/api/v2/silence/*", Need.SILENCE),
    Rule("POST", "/-/reload", Need.ADMIN),
)
AUDITED_ALERTS = 100  # per request: a person resolving an outage by hand is summarized beyond this

MAX_BODY_BYTES = 32 * 1024 * 1024  # 10,000 alerts with labels and annotations fit comfortably


def create_app(
    service: AlertingService,
    reload: Callable[[], str | None] | None = None,
    *,
    access: AccessPolicy,
    audit: AuditLog | None = None,
) -> Starlette:
    """``reload`` re-reads the config file and returns an error text, or None when applied.
    ``access`` decides who may do what (``AccessPolicy.open()`` for none); ``audit`` records changes."""

    def record(request: Request, action: str, target: str, **details: object) -> None:
        if audit is not None:
            who = identity_of(request)
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:  # claimed by the caller (the status page, a proxy): kept as said, not trusted
                details["forwarded_for"] = forwarded
            audit.record(who.name, who.address, action, target, **details)

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
        if identity_of(request).role != "producer":  # by hand: rules and Prometheus are producers
            await run_in_threadpool(_audit_alerts, record, request, items, service.clock())
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
            who = identity_of(request)
            if who.via != "none":  # who created it is who proved it, not what the client wrote
                silence = dataclasses.replace(silence, created_by=who.name)
            updating = isinstance(body, dict) and bool(body.get("id"))
            service.silences.put(silence)
        except (SilenceError, ValueError) as exc:
            return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
        record(request, "silence.update" if updating else "silence.create", silence.id,
               **_silence_details(silence, service.clock()))  # fmt: skip
        return JSONResponse({"silenceID": silence.id})

    async def get_silence(request: Request) -> Response:
        try:
            silence = service.silences.get(request.path_params["id"])
        except SilenceError as exc:
            return JSONResponse({"code": 404, "message": str(exc)}, status_code=404)
        return JSONResponse(silence.to_api(service.clock()))

    async def delete_silence(request: Request) -> Response:
        try:
            silence = service.silences.get(request.path_params["id"])
            service.silences.expire(silence.id)
        except SilenceError as exc:
            return JSONResponse({"code": 404, "message": str(exc)}, status_code=404)
        record(request, "silence.expire", silence.id, **_silence_details(silence, service.clock()))
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
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        await run_in_threadpool(service.update_metrics)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def do_reload(request: Request) -> Response:
        if reload is None:
            return JSONResponse({"reloaded": False, "error": "no config file to reload"}, status_code=400)
        error = await run_in_threadpool(reload)
        record(request, "reload", "alerting", ok=error is None, error=error)
        return JSONResponse({"reloaded": error is None, "error": error}, status_code=200 if error is None else 400)

    async def audit_log(request: Request) -> Response:
        if audit is None:
            return JSONResponse({"code": 404, "message": "no audit log here"}, status_code=404)
        q = request.query_params
        try:
            since = _since(q.get("since", "24h"), service.clock())
            limit = int(q.get("limit", "1000"))
        except ValueError as exc:
            return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
        events = await run_in_threadpool(audit.query, since=since, actor=q.get("actor"), action=q.get("action"),
                                         limit=limit)  # fmt: skip
        return JSONResponse({"events": [e.to_api() for e in events]})

    app = Starlette(
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
            Route("/api/v1/audit", audit_log),
        ]
    )
    app.add_middleware(ControlPlaneAccess, policy=access, rules=ACCESS_RULES)
    return app


def _silence_details(silence: Silence, now: float) -> dict:
    api = silence.to_api(now)
    return {key: api.get(key) for key in ("matchers", "startsAt", "endsAt", "createdBy", "comment")}


def _audit_alerts(record: Callable[..., None], request: Request, items: object, now: float) -> None:
    """One audit row per alert posted or resolved by a person (the body was valid: it was accepted)."""
    alerts = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    for item in alerts[:AUDITED_ALERTS]:
        labels = item.get("labels") or {}
        ends = item.get("endsAt")
        resolved = bool(ends) and _ended(ends, now)
        action = "alert.resolve" if resolved else "alert.post"
        record(request, action, str(labels.get("alertname", "")), labels=labels, endsAt=ends)
    if len(alerts) > AUDITED_ALERTS:
        record(request, "alert.post", "(more)", count=len(alerts) - AUDITED_ALERTS)


def _ended(text: str, now: float) -> bool:
    try:
        return parse_time(text, "endsAt") <= now
    except (AlertFormatError, ValueError):
        return False


def _since(text: str, now: float) -> float:
    """``24h`` (a duration back from now) or an RFC 3339 time."""
    try:
        return now - parse_duration(text)
    except ValueError:
        return parse_time(text, "since")
