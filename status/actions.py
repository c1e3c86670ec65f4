"""What on-call people do on the status page: sign in and out, silence an alert from its row, list
silences with who created them, expire one.

Every action is a plain HTML form (no script: the page's Content-Security-Policy allows none but its
refresher) posted to this page, which calls the alerting service's Alertmanager API *as the signed-in
operator* (their token from the session, or the trusted proxy's user header): the alerting service
checks their role and writes the audit. Forms carry the session's CSRF token; the access middleware
has already refused foreign ``Origin``s and foreign ``Host``s.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from config.durations import parse_duration
from inventory.access import AccessPolicy, Identity, Need, Rule, identity_of
from status.sessions import Sessions
from storage.http import HttpClient, HttpError, HttpSettings

FORM_BYTES = 64 * 1024
MATCHER_ROWS = 4  # name/value rows on the silence form (prefilled from the alert, then empty ones)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # not no-referrer: with it a browser sends "Origin: null" on the page's own form posts, which the
    # access middleware refuses; same-origin keeps the origin for them and tells other sites nothing
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACCESS_RULES = (
    Rule("*", "/login", Need.PUBLIC),
    Rule("POST", "/logout", Need.PUBLIC),
    Rule("GET", "/static/*", Need.PUBLIC),  # the sign-in page's stylesheet
    Rule("POST", "/silence", Need.SILENCE),
    Rule("POST", "/silences/*", Need.SILENCE),
)
FORMS = ("/login", "/logout", "/silence", "/silences/*")  # these check the CSRF token themselves


class Actions:
    """The routes above, bound to the alerting service at ``alerting_url``."""

    def __init__(self, env, policy: AccessPolicy, sessions: Sessions, alerting_url: str, timeout_s: float,
                 verify: bool | str = True) -> None:  # fmt: skip
        self.env = env
        self.policy = policy
        self.sessions = sessions
        self.alerting_url = alerting_url.rstrip("/")
        settings = HttpSettings(timeout_s=timeout_s, max_response_bytes=16 * 1024 * 1024, verify=verify)
        self.http = HttpClient(settings=settings)

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/silence", self.silence_form, methods=["GET"]),
            Route("/silence", self.create_silence, methods=["POST"]),
            Route("/silences", self.list_silences, methods=["GET"]),
            Route("/silences/{id}/expire", self.expire_silence, methods=["POST"]),
        ]

    def close(self) -> None:
        self.http.close()

    # -- sign in and out -------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        if self.policy.mode == "none" or self._identity(request) is not None:
            return RedirectResponse("/", status_code=303)
        return self._html(request, "login.html.j2", error=None, name="")

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        name, token = form.get("name", "").strip(), form.get("token", "").strip()
        operator = None
        if self.policy.operators is not None and name and token:
            operator = await run_in_threadpool(self.policy.operators.authenticate, token, name)
        if operator is None:
            error = "unknown operator name or token" if self.policy.mode != "none" else "sign-in is off (auth: none)"
            return self._html(request, "login.html.j2", 401, error=error, name=name)
        address = request.client.host if request.client else "local"
        session = self.sessions.create(Identity(operator.name, operator.role, address, "session"), token)
        response = RedirectResponse("/", status_code=303)
        response.headers["Set-Cookie"] = self.sessions.cookie(session)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.sessions.from_headers(_raw(request))
        if session is not None:
            form = await _form(request)
            if not self.sessions.csrf_ok(form.get("csrf", ""), session, session.identity):
                return Response("bad or missing CSRF token", status_code=403)
            self.sessions.drop(session.sid)
        response = RedirectResponse("/login", status_code=303)
        response.headers["Set-Cookie"] = self.sessions.clear_cookie()
        return response

    # -- silences --------------------------------------------------------------------------------

    async def silence_form(self, request: Request) -> Response:
        given = [(k, v) for k, v in request.query_params.multi_items() if k and v][:MATCHER_ROWS]
        rows = given + [("", "")] * (MATCHER_ROWS - len(given))
        return self._html(request, "silence.html.j2", rows=rows, duration="2h", comment="", error=None)

    async def create_silence(self, request: Request) -> Response:
        form = await _form_lists(request)
        if (refusal := self._csrf_refusal(request, _first(form, "csrf"))) is not None:
            return refusal
        names, values = form.get("name", []), form.get("value", [])
        matchers = [{"name": n.strip(), "value": v, "isRegex": False, "isEqual": True}
                    for n, v in zip(names, values, strict=False) if n.strip()]  # fmt: skip
        duration, comment = _first(form, "duration") or "2h", _first(form, "comment").strip()
        rows = list(zip(names, values, strict=False)) or [("", "")]
        try:
            seconds = parse_duration(duration)
            if not matchers:
                raise ValueError("give at least one matcher (a label name and its value)")
            if not comment:
                raise ValueError("say why in the comment: the next person on call will read it")
        except ValueError as exc:
            return self._html(request, "silence.html.j2", 400, rows=rows, duration=duration, comment=comment,
                              error=str(exc))  # fmt: skip
        now = time.time()
        body = {"matchers": matchers, "startsAt": _iso(now), "endsAt": _iso(now + seconds),
                "createdBy": identity_of(request).name, "comment": comment}  # fmt: skip
        error = await self._call(request, "POST", "/api/v2/silences", json=body)
        if error:
            return self._html(request, "silence.html.j2", 502, rows=rows, duration=duration, comment=comment,
                              error=error)  # fmt: skip
        return RedirectResponse("/silences", status_code=303)

    async def list_silences(self, request: Request) -> Response:
        try:
            response = await run_in_threadpool(self._request, request, "GET", "/api/v2/silences")
            silences = [s for s in response.json() if (s.get("status") or {}).get("state") != "expired"]
            error = None
        except (HttpError, ValueError) as exc:
            silences, error = [], f"cannot read the silences from {self.alerting_url}: {exc}"
        silences.sort(key=lambda s: s.get("endsAt", ""))
        return self._html(request, "silences.html.j2", silences=silences, error=error, quote=quote)

    async def expire_silence(self, request: Request) -> Response:
        form = await _form(request)
        if (refusal := self._csrf_refusal(request, form.get("csrf", ""))) is not None:
            return refusal
        silence_id = request.path_params["id"]
        error = await self._call(request, "DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")
        if error:
            return self._html(request, "silences.html.j2", 502, silences=[], error=error, quote=quote)
        return RedirectResponse("/silences", status_code=303)

    # -- helpers ---------------------------------------------------------------------------------

    def _identity(self, request: Request) -> Identity | None:
        return getattr(request.state, "identity", None)

    def _csrf_refusal(self, request: Request, given: str) -> Response | None:
        session = self.sessions.from_headers(_raw(request))
        if self.sessions.csrf_ok(given, session, identity_of(request)):
            return None
        return Response("bad or missing CSRF token: reload the page and try again", status_code=403)

    def _request(self, request: Request, method: str, path: str, **kwargs):
        """Call the alerting service as the operator of this request; raises HttpError."""
        headers = {"X-Forwarded-For": request.client.host if request.client else "local"}
        session = self.sessions.from_headers(_raw(request))
        who = identity_of(request)
        if session is not None and session.token:
            headers["Authorization"] = f"Bearer {session.token}"
        elif who.via == "proxy":  # alerting believes it only if this page's address is among its proxies
            headers[self.policy.user_header.decode()] = who.name
        elif request.headers.get("authorization"):
            headers["Authorization"] = request.headers["authorization"]
        return self.http.request(method, self.alerting_url + path, headers=headers, **kwargs)

    async def _call(self, request: Request, method: str, path: str, **kwargs) -> str | None:
        """An error text for the page, or None when the alerting service accepted."""
        try:
            await run_in_threadpool(self._request, request, method, path, **kwargs)
        except HttpError as exc:
            return f"the alerting service refused: {exc}"
        return None

    def _html(self, request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
        who = self._identity(request)
        session = self.sessions.from_headers(_raw(request))
        csrf = self.sessions.csrf_token(session, who) if who else ""
        body = self.env.get_template(template).render(user=who, csrf=csrf, signed_in=session is not None, **context)
        return HTMLResponse(body, status_code=status_code, headers=HEADERS)


def silence_link(labels: dict[str, str]) -> str:
    """The silence form prefilled with these labels (empty ones left out)."""
    return "/silence?" + urlencode([(k, v) for k, v in labels.items() if v])


def _raw(request: Request) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    for key, value in request.scope["headers"]:
        headers.setdefault(key, value)
    return headers


async def _form_lists(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


async def _form(request: Request) -> dict[str, str]:
    return {key: values[0] for key, values in (await _form_lists(request)).items()}


def _first(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0]


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
