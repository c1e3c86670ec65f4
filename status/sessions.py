"""Sign-in sessions of the status page: who is signed in, the credential their actions carry, and
the CSRF token of their forms.

An operator signs in with their name and token (the same credential as Basic auth). The session is
a random id in a cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the page is served over
TLS, ``Path=/``); the token stays on the server, in this process's memory, so the page can act on the
alerting service *as that operator* (their role applies there, and the audit names them). Sessions
end after ``auth.session_ttl``, on sign-out, and when the process restarts (sign in again).

Forms carry a CSRF token: a session's own random one, or for identities without a session (auth
mode ``none``, a trusted proxy) an HMAC of the name under a per-process key. The ``SameSite``
cookie and the access middleware's ``Origin`` check already stop cross-site posts; the token is
the third lock, for browsers that send neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from inventory.access import Identity

COOKIE = "jboxmon_session"
MAX_SESSIONS = 10_000  # beyond: the oldest are dropped (a flood of sign-ins cannot exhaust memory)


@dataclass(frozen=True)
class Session:
    sid: str
    identity: Identity
    token: str | None  # the operator's credential, forwarded to the alerting service
    csrf: str
    expires_at: float


class Sessions:
    """In-memory sessions; thread-safe; time from ``clock``."""

    def __init__(
        self,
        ttl_s: float,
        *,
        secure: bool = False,
        clock: Callable[[], float] = time.time,
        still_valid: Callable[[Session], bool] | None = None,
    ) -> None:
        """``still_valid(session)`` is asked on every request: a token revoked or rotated away since
        the sign-in ends the session at once, not at the end of its ``ttl_s``."""
        self.ttl_s = ttl_s
        self.still_valid = still_valid
        self.secure = secure
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)  # CSRF tokens of session-less identities

    def create(self, identity: Identity, token: str | None) -> Session:
        session = Session(secrets.token_urlsafe(32), identity, token, secrets.token_urlsafe(24),
                          self.clock() + self.ttl_s)  # fmt: skip
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
                del self._sessions[oldest.sid]
            self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[sid]
                return None
        return session

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def from_headers(self, headers: dict[bytes, bytes]) -> Session | None:
        raw = headers.get(b"cookie", b"").decode("latin-1")
        try:
            morsel = SimpleCookie(raw).get(COOKIE)
        except CookieError:
            return None
        return self.get(morsel.value if morsel else None)

    def identify(self, headers: dict[bytes, bytes], address: str) -> Identity | None:
        """For the access middleware: the signed-in identity (seen from this request's address)."""
        session = self.from_headers(headers)
        if session is None:
            return None
        if self.still_valid is not None and not self.still_valid(session):
            self.drop(session.sid)
            return None
        who = session.identity
        return Identity(who.name, who.role, address, "session")

    def csrf_token(self, session: Session | None, identity: Identity) -> str:
        if session is not None:
            return session.csrf
        return hmac.new(self._key, identity.name.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, given: str, session: Session | None, identity: Identity) -> bool:
        return bool(given) and hmac.compare_digest(given, self.csrf_token(session, identity))

    def cookie(self, session: Session) -> str:
        """The ``Set-Cookie`` value that signs the browser in."""
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE}={session.sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(self.ttl_s)}{secure}"

    def clear_cookie(self) -> str:
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
