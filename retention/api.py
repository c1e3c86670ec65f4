"""The retention service's HTTP face: ``/metrics`` (its self-metrics), ``/health`` (the last pass) and
``POST /-/run`` (start a pass now).

Behind the control-plane access middleware (``inventory.access``): ``/metrics`` needs the viewer role,
``/-/run`` an admin, and each run asked for is recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inventory.access import AccessPolicy, ControlPlaneAccess, Need, Rule, identity_of
from inventory.audit import AuditLog
from retention.metrics import RetentionMetrics

ACCESS_RULES = (Rule("POST", "/-/run", Need.ADMIN),)


def create_app(
    metrics: RetentionMetrics,
    status: Callable[[], dict],
    *,
    access: AccessPolicy,
    run: Callable[[], bool] | None = None,
    audit: AuditLog | None = None,
) -> Starlette:
    """``status()`` gives ``{"last_pass": ..., "last_error": ...}``; a failed last pass answers 503.
    ``run()`` starts a pass in the background and says False when one is already running."""

    async def run_now(request: Request) -> Response:
        if run is None:
            return JSONResponse({"code": 404, "message": "no scheduled retention here"}, status_code=404)
        started = run()
        if audit is not None:
            who = identity_of(request)
            audit.record(who.name, who.address, "retention.run", "retention", started=started)
        if not started:
            return JSONResponse({"started": False, "message": "a pass is already running"}, status_code=409)
        return JSONResponse({"started": True}, status_code=202)

    async def health(request: Request) -> Response:
        body = status()
        return JSONResponse(body, status_code=503 if body.get("last_error") else 200)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/metrics", metrics_endpoint),
            Route("/-/run", run_now, methods=["POST"]),
        ]
    )
    app.add_middleware(ControlPlaneAccess, policy=access, rules=ACCESS_RULES)
    return app
