"""Control-plane access: one ASGI middleware in front of the alerting, rules, retention and status APIs.

Each request passes four checks, in this order, before the service sees it:

1. **Host** (DNS rebinding): the ``Host`` header must name this service: an IP literal, a listen
   address, ``localhost``, the host of a configured external URL, or ``auth.allowed_hosts``. Else 421.
2. **Origin** (CSRF): a browser's ``Origin`` must be this very origin (the ``Host`` it was sent to) or
   a configured host. ``Origin: null`` and foreign origins are refused with 403, whatever the mode.
3. **Content type** (CSRF): a POST, PUT or PATCH must say ``application/json`` — an HTML form or
   ``fetch(..., {mode: 'no-cors'})`` cannot, without a CORS preflight this service never grants. A
   body-less POST without ``Content-Type`` or ``Origin`` is a command-line client (``curl -X POST
   /-/reload``) and passes. Paths listed as ``forms`` (the status page's) check their CSRF token
   themselves. Else 415.
4. **Credential and role**: ``Authorization: Bearer <operator token>`` or Basic (user = operator,
   password = token), the status page's session, or the trusted proxy's user header; then the role
   must grant what the route needs (``Need``). Missing or unknown credential: 401; role short: 403.

Box and gateway tokens are never looked up here (see ``inventory.operators``). The identity is put
in ``request.state.identity`` for the handlers (audit: who, from where).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import json
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from config import JboxmonConfig
from inventory.database import InventoryUnavailable
from inventory.operators import Operator, OperatorStore


class Need(StrEnum):
    PUBLIC = "public"  # /health: load balancers and the status page ask without a credential
    READ = "read"
    POST_ALERTS = "post_alerts"
    SILENCE = "silence"
    ADMIN = "admin"


PERMISSIONS: dict[str, frozenset[Need]] = {
    "viewer": frozenset({Need.READ}),
    "operator": frozenset({Need.READ, Need.POST_ALERTS, Need.SILENCE}),
    "admin": frozenset({Need.READ, Need.POST_ALERTS, Need.SILENCE, Need.ADMIN}),
    "producer": frozenset({Need.POST_ALERTS}),
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
_BODY_METHODS = {"POST", "PUT", "PATCH"}


@dataclass(frozen=True)
class Rule:
    """``method`` ("*" for any) and ``path`` (exact, or a prefix ending in ``*``) need ``need``."""

    method: str
    path: str
    need: Need

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return path.startswith(self.path[:-1]) if self.path.endswith("*") else path == self.path


@dataclass(frozen=True)
class Identity:
    """Who is asking: the operator's name and role, their address, and how they proved it."""

    name: str
    role: str
    address: str
    via: str  # bearer, basic, session, proxy, none

    def may(self, need: Need) -> bool:
        return need is Need.PUBLIC or need in PERMISSIONS.get(self.role, frozenset())


class AccessPolicy:
    """Mode, credentials and allowed hosts: what every service's middleware shares."""

    def __init__(
        self,
        mode: str = "credentials",
        operators: OperatorStore | None = None,
        *,
        allowed_hosts: Iterable[str] = (),
        proxies: Iterable[str] = (),
        user_header: str = "X-Forwarded-User",
        default_role: str = "viewer",
    ) -> None:
        if mode != "none" and operators is None:
            raise ValueError(f"auth mode {mode!r} needs the operator store")
        self.mode = mode
        self.operators = operators
        self.allowed_hosts = {host.lower() for host in allowed_hosts}
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in proxies]
        self.user_header = user_header.lower().encode()
        self.default_role = default_role

    @classmethod
    def from_config(cls, config: JboxmonConfig, operators: OperatorStore | None) -> AccessPolicy:
        auth = config.auth
        return cls(
            auth.mode,
            operators if auth.mode != "none" else None,
            allowed_hosts=default_hosts(config),
            proxies=auth.trusted_proxy.proxies if auth.mode == "trusted-proxy" else (),
            user_header=auth.trusted_proxy.user_header,
            default_role=auth.trusted_proxy.default_role,
        )

    @classmethod
    def open(cls) -> AccessPolicy:
        """No credentials, loopback names only: for tests of a service's own behaviour."""
        return cls("none", allowed_hosts=("localhost",))

    # -- the checks ------------------------------------------------------------------------------

    def host_allowed(self, host: str) -> bool:
        name = _strip_port(host).lower()
        if not name or _is_ip(name):
            return True  # DNS rebinding needs a name the attacker controls; an IP literal is not one
        return name in self.allowed_hosts or any(fnmatch.fnmatchcase(name, p) for p in self.allowed_hosts if "*" in p)

    def origin_allowed(self, origin: str, host: str) -> bool:
        if origin == "null":
            return False
        parts = urlsplit(origin)
        if parts.netloc.lower() == host.lower():
            return True  # same origin: the page this service served
        name = (parts.hostname or "").lower()
        return bool(name) and not _is_ip(name) and self.host_allowed(name)

    def identify(self, headers: dict[bytes, bytes], address: str) -> Identity | None:
        """The identity a request proves, or None. Mode none: everyone is an anonymous admin."""
        if self.mode == "none":
            return Identity(f"anonymous@{address}", "admin", address, "none")
        if self.proxies and _in(address, self.proxies):
            user = headers.get(self.user_header, b"").decode("latin-1").strip()
            if user:
                known = self.operators.get(user)
                return Identity(user, known.role if known else self.default_role, address, "proxy")
        return self._credential(headers.get(b"authorization", b"").decode("latin-1"), address)

    def _credential(self, header: str, address: str) -> Identity | None:
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        operator: Operator | None = None
        if scheme in ("bearer", "token"):
            operator = self.operators.authenticate(value)
        elif scheme == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            operator = self.operators.authenticate(password, name=user)
            scheme = "basic"
        if operator is None:
            return None
        return Identity(operator.name, operator.role, address, scheme)


def default_hosts(config: JboxmonConfig) -> set[str]:
    """Host names accepted by default: listen hosts, localhost, the machine's name, configured URLs' hosts."""
    hosts = {"localhost", socket.gethostname()}
    hosts |= {listen.rsplit(":", 1)[0].strip("[]") for listen in config.control_plane_listens().values()}
    urls = [config.alerting.external_url, *config.status.urls.model_dump().values()]
    hosts |= {urlsplit(url).hostname or "" for url in urls if url}
    hosts |= set(config.auth.allowed_hosts)
    return {host.lower() for host in hosts if host and not _is_ip(host)}


class ControlPlaneAccess:
    """The ASGI middleware: ``rules`` say what each route needs (first match; unmatched: reads need
    READ, anything else ADMIN). ``forms`` are paths (``*``: prefix) that check a CSRF token themselves; ``session``
    finds a signed-in identity (the status page's cookie); ``login_path`` is where a browser asking
    for HTML without a credential is sent instead of getting 401."""

    def __init__(
        self,
        app,
        policy: AccessPolicy,
        rules: Iterable[Rule] = (),
        *,
        forms: Iterable[str] = (),
        session: Callable[[dict[bytes, bytes], str], Identity | None] | None = None,
        login_path: str | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.rules = [Rule("*", "/health", Need.PUBLIC), *rules]
        self.forms = [Rule("POST", path, Need.PUBLIC) for path in forms]
        self.session = session
        self.login_path = login_path

    def need(self, method: str, path: str) -> Need:
        for rule in self.rules:
            if rule.matches(method, path):
                return rule.need
        return Need.READ if method in ("GET", "HEAD", "OPTIONS") else Need.ADMIN

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, identity = self.check(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)

    def check(self, scope) -> tuple[object | None, Identity | None]:
        """(an ASGI response refusing the request, or None; the identity when there is one)."""
        headers = {}
        for key, value in scope["headers"]:
            headers.setdefault(key, value)  # the first of a repeated header, as Starlette reads it
        method, path = scope["method"], scope["path"]
        host = headers.get(b"host", b"").decode("latin-1")
        address = (scope.get("client") or ("local", 0))[0]
        if host and not self.policy.host_allowed(host):
            return _refuse(421, f"Host {host!r} is not a name of this service (add it to auth.allowed_hosts)"), None
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and not self.policy.origin_allowed(origin, host):
            return _refuse(403, f"requests from origin {origin!r} are refused (cross-site)"), None
        need = self.need(method, path)
        form = any(rule.matches(method, path) for rule in self.forms)
        if method in _BODY_METHODS and not form and not _json_body(headers):
            kind = headers.get(b"content-type", b"").decode("latin-1") or "none"
            return _refuse(415, f"{method} {path} needs Content-Type: application/json, got {kind}"), None
        try:
            identity = self.policy.identify(headers, address)
            if identity is None and self.session is not None:
                identity = self.session(headers, address)
        except InventoryUnavailable as exc:  # PostgreSQL away: say so, retryable, rather than a bare 500
            return _refuse(503, f"credentials cannot be checked now ({exc}); try again", {"Retry-After": "5"}), None
        if need is Need.PUBLIC:
            return None, identity
        if identity is None:
            return self._unauthenticated(method, headers), None
        if not identity.may(need):
            return _refuse(403, f"{identity.name} (role {identity.role}) may not {method} {path}: needs {need}"), None
        return None, identity

    def _unauthenticated(self, method: str, headers: dict[bytes, bytes]):
        if self.login_path and method == "GET" and b"text/html" in headers.get(b"accept", b""):
            return _redirect(self.login_path)
        why = "a credential is required: Authorization: Bearer <operator token>, or Basic auth"
        extra = {} if self.login_path else {"WWW-Authenticate": 'Basic realm="jboxmon", charset="UTF-8"'}
        return _refuse(401, why, extra)


def identity_of(request) -> Identity:
    """The identity the middleware admitted (anonymous when the app runs without it, in unit tests)."""
    found = getattr(request.state, "identity", None)
    if found is not None:
        return found
    address = request.client.host if request.client else "local"
    return Identity(f"anonymous@{address}", "admin", address, "none")


def _json_body(headers: dict[bytes, bytes]) -> bool:
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json")):
        return True
    # a command-line client posting nothing (curl -X POST .../-/reload): browsers always send Origin
    empty = headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers
    return not kind and b"origin" not in headers and empty


def _refuse(status: int, message: str, headers: dict[str, str] | None = None):
    body = json.dumps({"code": status, "message": message}).encode()

    async def respond(scope, receive, send) -> None:
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    return respond


def _redirect(location: str):
    async def respond(scope, receive, send) -> None:
        headers = [(b"location", location.encode()), (b"content-length", b"0"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return respond


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
