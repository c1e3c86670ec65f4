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


class ChartProxy:
    """``get(box)`` -> ``(png, "")`` or ``(None, why)``."""

    def __init__(self, alerting_url: str, timeout_s: float, keep_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.url = alerting_url.rstrip("/") + "/api/v1/chart"
        # drawing takes longer than a health check: give it a few of the page's timeouts
        self.http = HttpClient(settings=HttpSettings(timeout_s=timeout_s * 3, max_response_bytes=CHART_BYTES))
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
        with self._lock:
            if len(self._cache) >= CACHED_BOXES:
                self._cache.clear()
            self._cache[box] = (now, png, why)
        return png, why

    def _fetch(self, box: str) -> tuple[bytes | None, str]:
        url = f"{self.url}?jbox_id={quote(box, safe='')}"
        try:
            answer = self.http.request("GET", url)
        except HttpError as exc:
            if exc.status == 404:
                return None, "no data to chart in the window"
            return None, f"chart unavailable: {failure_reason(exc, self.http.settings.timeout_s)}"
        if answer.headers.get("Content-Type", "").split(";")[0] != "image/png":
            return None, f"chart unavailable: {url} did not answer with a PNG"
        return answer.content, ""

    def close(self) -> None:
        self.http.close()
