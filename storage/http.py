"""The one outbound HTTP seam: every jboxmon client (InfluxDB, scraper, alert receivers, the live
simulator) sends through :class:`HttpClient`.

It owns what each client would otherwise redo by hand: a pooled ``requests.Session`` per thread
(sessions are not thread-safe), a timeout on every call, TLS verification settings, a bound on how
much of an answer is read, and the classification of every failure as retryable or permanent.
Tests patch outbound HTTP here and nowhere else.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
import urllib3

# Statuses worth retrying: the server is sick or overloaded (5xx), asks us to slow down (429), or
# timed out waiting for our request (408). Every other 4xx means the request itself is wrong.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
ERROR_BODY_CHARS = 2000


class HttpError(Exception):
    """A failed outbound call; ``retryable`` is the only thing a caller should branch on."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        slow: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        # the server took the connection but did not answer in time: busy, not down (a caller may
        # split its work or wait longer; "unreachable" would send the operator to the wrong place)
        self.slow = slow


@dataclass(frozen=True)
class HttpSettings:
    """How to reach one remote: timeout, TLS (True, False or a CA bundle path), fixed headers."""

    timeout_s: float = 10.0
    verify: bool | str = True
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth: tuple[str, str] | None = field(default=None, repr=False)
    max_response_bytes: int | None = None


class HttpClient:
    """Send HTTP requests with a session per thread; failures raise :class:`HttpError`.

    >>> client = HttpClient("http://127.0.0.1:9093", HttpSettings(timeout_s=5))
    >>> client.request("POST", "/api/v2/alerts", json=[])  # doctest: +SKIP
    """

    def __init__(self, base_url: str = "", settings: HttpSettings | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings or HttpSettings()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.settings.verify
            session.headers.update(self.settings.headers)
            session.auth = self.settings.auth
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def request(self, method: str, url: str, *, check: bool = True, **kwargs) -> requests.Response:
        """Send one request to ``url`` (absolute, or a path under ``base_url``).

        With ``check`` a non-2xx answer raises HttpError (classified by status); without it the
        response is returned as it came, for clients that classify answers themselves.
        """
        target = url if "://" in url else self.base_url + url
        limit = self.settings.max_response_bytes
        kwargs.setdefault("timeout", self.settings.timeout_s)
        # per request, not only on the session: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the
        # environment override a session's verify, so a configured CA bundle would silently be ignored
        kwargs.setdefault("verify", self.settings.verify)
        try:
            response = self._session().request(method, target, stream=limit is not None, **kwargs)
            if limit is not None:
                _read_bounded(response, limit, target)
        except requests.ConnectTimeout as exc:  # before Timeout and ConnectionError: it is both
            raise HttpError(
                f"{method} {target} unreachable: no connection within {kwargs['timeout']}s (connect timed out)",
                retryable=True,
            ) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            if is_read_timeout(exc):
                raise HttpError(
                    f"{method} {target} slow: connected, but no answer within {kwargs['timeout']}s (read timed out)",
                    retryable=True,
                    slow=True,
                ) from exc
            raise HttpError(f"{method} {target} unreachable: {connection_reason(exc)}", retryable=True) from exc
        except requests.RequestException as exc:  # invalid URL, too many redirects...
            raise HttpError(f"{method} {target} failed: {exc}", retryable=False) from exc
        if check and not 200 <= response.status_code < 300:
            raise HttpError(
                f"{method} {target} answered {response.status_code}: {response.text[:ERROR_BODY_CHARS]}",
                retryable=response.status_code in RETRYABLE_STATUSES,
                status=response.status_code,
                retry_after_s=_retry_after(response.headers.get("Retry-After")),
            )
        return response

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_read_timeout(exc: BaseException) -> bool:
    """True when the server accepted the connection but its answer did not come in time.

    requests raises ``ReadTimeout`` while waiting for the head, but a ``ConnectionError`` wrapping
    urllib3's ``ReadTimeoutError`` when the timeout strikes while the body is read.
    """
    if isinstance(exc, requests.ReadTimeout):
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.ReadTimeoutError):
            return True
        if any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in current.args):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
            return True
        current = current.__cause__ or current.__context__
    return False


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def connection_reason(exc: BaseException) -> str:
    """The useful part of a connection failure ("Connection refused", "Name or service not known")
    rather than urllib3's nested repr."""
    text = str(exc)
    match = _ERRNO_TEXT.search(text)
    if match:
        return match.group(0).strip()
    for known in ("Connection refused", "Name or service not known", "No route to host", "Connection reset"):
        if known in text:
            return known
    return text[:300]


def _read_bounded(response: requests.Response, limit: int, target: str) -> None:
    """Read at most ``limit`` bytes of the body; a larger answer is a permanent error."""
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            response.close()
            raise HttpError(f"{target}: answer larger than {limit} bytes", retryable=False, status=response.status_code)
        chunks.append(chunk)
    response._content = b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from the servers we talk to, and a default backoff is fine
