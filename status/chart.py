"""The box view's chart, fetched from the alerting service's ``GET /api/v1/chart`` (the drawing code
lives there, with the email's: the status page reaches other services over HTTP only).

Served at ``/box/{id}/chart.png`` from this origin (the page's Content-Security-Policy allows its own
images only). Answers are bounded in size and time, and kept for ``status.refresh`` so a page
reloading itself, or ten operators looking at one box, cost one drawing per refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from status.components import failure_reason
from storage.http import HttpClient, HttpError, HttpSettings

CHART_BYTES = 2 * 1024 * 1024
CACHED_BOXES = 256
UNAVAILABLE = "chart unavailable"


class ChartProxy:
    """``get(box)`` -> ``(png, "")`` or ``(None, why)``."""

    def __init__(self, alerting_url: str, timeout_s: float, keep_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.url = alerting_url.rstrip("/") + "/api/v1/chart"
        # drawing takes longer than a health check, and the alerting service's first chart imports
        # matplotlib (and, on a fresh install, builds its font cache): the image waits, the page does not
        settings = HttpSettings(timeout_s=max(10.0, timeout_s * 5), max_response_bytes=CHART_BYTES)
        self.http = HttpClient(settings=settings)
        self.keep_s = keep_s
        self.clock = clock
        self._cache: dict[str, tuple[float, bytes | None, str]] = {}
        self._lock = threading.Lock()

    def get(self, box: str) -> tuple[bytes | None, str]:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(box)
        if hit is not None and now - hit[0] < self.keep_s:
            return hit[1], hit[2]
        png, why = self._fetch(box)
        if why.startswith(UNAVAILABLE):  # not an answer about the box: ask again next time
            return png, why
        with self._lock:
            if len(self._cache) >= CACHED_BOXES:
                self._cache.clear()
            self._cache[box] = (self.clock(), png, why)  # fresh from when it arrived, not when asked
        return png, why

    def _fetch(self, box: str) -> tuple[bytes | None, str]:
        url = f"{self.url}?jbox_id={quote(box, safe='')}"
        try:
            answer = self.http.request("GET", url, check=False)
        except HttpError as exc:
            return None, f"{UNAVAILABLE}: {failure_reason(exc, self.http.settings.timeout_s)}"
        if answer.status_code == 404:  # the alerting service says why: no data, or no InfluxDB to read
            try:
                return None, str(answer.json().get("message", "no chart"))[:200]
            except ValueError:
                return None, "no chart"
        if answer.status_code != 200 or answer.headers.get("Content-Type", "").split(";")[0] != "image/png":
            return None, f"{UNAVAILABLE}: {self.url} answered {answer.status_code}"
        return answer.content, ""

    def close(self) -> None:
        self.http.close()
