"""The retention service's HTTP face: ``/metrics`` (its self-metrics) and ``/health`` (the last pass).

Behind the control-plane access middleware (``inventory.access``): ``/metrics`` needs the viewer role.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inventory.access import AccessPolicy, ControlPlaneAccess
from retention.metrics import RetentionMetrics


def create_app(metrics: RetentionMetrics, status: Callable[[], dict], *, access: AccessPolicy) -> Starlette:
    """``status()`` gives ``{"last_pass": ..., "last_error": ...}``; a failed last pass answers 503."""

    async def health(request: Request) -> Response:
        body = status()
        return JSONResponse(body, status_code=503 if body.get("last_error") else 200)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(routes=[Route("/health", health), Route("/metrics", metrics_endpoint)])
    app.add_middleware(ControlPlaneAccess, policy=access)
    return app
