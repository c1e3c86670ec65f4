"""HTTP API of the rules service, shaped like Prometheus' where it fits.

Behind the control-plane access middleware (``inventory.access``): reads need the viewer role,
``POST /-/reload`` an admin, and each reload is recorded in the audit log.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inventory.access import AccessPolicy, ControlPlaneAccess, Need, Rule, identity_of
from inventory.audit import AuditLog
from rules.service import RulesService

ACCESS_RULES = (Rule("POST", "/-/reload", Need.ADMIN),)


def create_app(service: RulesService, *, access: AccessPolicy, audit: AuditLog | None = None) -> Starlette:
    async def alerts(request: Request) -> Response:
        items = [
            {**alert.to_alertmanager(), "state": alert.status, "value": alert.value}
            for alert in service.current.snapshot()
        ]
        return JSONResponse({"status": "success", "data": {"alerts": items}})

    async def rules(request: Request) -> Response:
        engine = service.engine
        groups = []
        for group in engine.groups if engine else []:
            loaded = engine.rules.get(group.name, [])
            groups.append(
                {
                    "name": group.name,
                    "interval": group.interval,
                    "rules": [
                        {
                            "name": item.rule.alert,
                            "condition": item.rule.condition.describe(),
                            "for": item.rule.for_,
                            "labels": item.rule.labels,
                            "health": "err" if item.last_error else "ok",
                            "lastError": item.last_error or "",
                            "evaluationTime": item.last_duration_s,
                            "alerts": {
                                state: sum(1 for s in item.states.alerts.values() if s.state == state)
                                for state in ("pending", "firing")
                            },
                        }
                        for item in loaded
                    ],
                }
            )
        return JSONResponse({"status": "success", "data": {"groups": groups}})

    async def health(request: Request) -> Response:
        body = {
            "status": "ok" if service.last_reload_error is None else "degraded: last reload failed",
            "last_reload_error": service.last_reload_error,
        }
        return JSONResponse(body)

    async def reload(request: Request) -> Response:
        ok = await run_in_threadpool(service.reload)
        if audit is not None:
            who = identity_of(request)
            audit.record(who.name, who.address, "reload", "rules", ok=ok, error=service.last_reload_error)
        return JSONResponse({"reloaded": ok, "error": service.last_reload_error}, status_code=200 if ok else 400)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            Route("/api/v1/alerts", alerts),
            Route("/api/v1/rules", rules),
            Route("/health", health),
            Route("/-/reload", reload, methods=["POST"]),
            Route("/metrics", metrics),
        ]
    )
    app.add_middleware(ControlPlaneAccess, policy=access, rules=ACCESS_RULES)
    return app
