"""The status page's HTTP face: ``GET /`` (HTML), ``GET /api/v1/status`` (the same data as JSON),
``GET /box/{id}`` and ``/api/v1/box/{id}``, ``/health``, ``/metrics`` and two static files.

Everything is rendered from the refresher's last snapshot: no request waits on an upstream. Pages
are jinja2 with autoescape on, and are served with a Content-Security-Policy that allows only this
origin's own stylesheet and script, so even an escaping mistake could not run a script from a label.
No CDN, no external asset: the page works on an offline operator network.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from inventory.access import AccessPolicy, ControlPlaneAccess
from status import actions, document
from status.format import ago, duration
from status.service import StatusService
from status.sessions import Sessions

HERE = Path(__file__).resolve().parent
STATIC = {"status.css": "text/css", "refresh.js": "text/javascript"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # a status page from a cache is a lie
}
NOT_READY = "no status yet: the first round of checks is running"


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = ago
    env.filters["duration"] = duration
    return env


def create_app(
    service: StatusService, *, access: AccessPolicy, session_ttl_s: float = 12 * 3600, tls: bool = False
) -> Starlette:
    """``access``: who may look and act (sign-in, silences: status/actions.py); ``tls``: cookies are Secure."""
    env = templates()
    def still_valid(session) -> bool:  # the operator's token still works (not revoked, not rotated away)
        return access.operators is None or access.operators.authenticate(session.token) is not None

    sessions = Sessions(session_ttl_s, secure=tls, still_valid=still_valid)
    acts = actions.Actions(env, access, sessions, service.alerting_url, service.config.timeout, service.tls_verify)
    env.globals["silence_link"] = actions.silence_link

    def html(name: str, status_code: int = 200, **context) -> HTMLResponse:
        body = env.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status_code, headers=HEADERS)

    def current():
        snapshot = service.snapshot
        now = service.clock()
        return snapshot, now

    async def page(request: Request) -> Response:
        snapshot, now = current()
        doc = None if snapshot is None else document.build(snapshot, service.config, now, service.box_link)
        return html("page.html.j2", doc=doc, refresh_s=service.config.refresh, not_ready=NOT_READY)

    async def api_status(request: Request) -> Response:
        snapshot, now = current()
        if snapshot is None:
            return JSONResponse({"error": NOT_READY}, status_code=503, headers=HEADERS)
        return JSONResponse(document.build(snapshot, service.config, now, service.box_link), headers=HEADERS)

    def _box(request: Request) -> tuple[dict | None, str]:
        jbox_id = request.path_params["jbox_id"]
        snapshot, now = current()
        return (None if snapshot is None else document.box(snapshot, jbox_id, service.config, now)), jbox_id

    async def box_page(request: Request) -> Response:
        box, jbox_id = _box(request)
        code = 200 if box is not None else 404
        return html("box.html.j2", code, box=box, jbox_id=jbox_id, refresh_s=service.config.refresh)

    async def api_box(request: Request) -> Response:
        box, jbox_id = _box(request)
        if box is None:
            return JSONResponse({"error": f"no registered box {jbox_id!r}"}, status_code=404, headers=HEADERS)
        return JSONResponse(box, headers=HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:  # a fixed list: no path from the request ever reaches the file system
            return Response("not found", status_code=404)
        return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"})

    async def health(request: Request) -> Response:
        """Its own health: degraded (503) while its data is stale, whatever the fleet looks like."""
        snapshot, now = current()
        if service.stale(snapshot):
            why = NOT_READY if snapshot is None else f"last refresh {now - snapshot.taken_at:.0f}s ago"
            return JSONResponse({"status": f"degraded: {why}"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            *acts.routes(),
            Route("/", page),
            Route("/api/v1/status", api_status),
            Route("/box/{jbox_id}", box_page),
            Route("/api/v1/box/{jbox_id}", api_box),
            Route("/static/{name}", static),
            Route("/health", health),
            Route("/metrics", metrics),
        ]
    )
    app.add_middleware(ControlPlaneAccess, policy=access, rules=actions.ACCESS_RULES, forms=actions.FORMS,
                       session=sessions.identify, login_path="/login")  # fmt: skip
    return app
