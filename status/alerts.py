"""The alerts firing now, read from the alerting service's ``GET /api/v2/alerts`` (Alertmanager's shape).

Resolved alerts the service still holds (for its resolve notifications) are left out; silenced and
inhibited ones are kept and marked, as Alertmanager's UI does. A failed read is an
:class:`AlertsView` with an ``error``: the page then says "unknown", never "no alerts".
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from status.components import failure_reason
from status.model import AlertRow, AlertsView
from storage.http import HttpClient, HttpError, HttpSettings

# 10,000 alerts (a fleet-wide outage) with labels and annotations are ~6 MB; beyond this the answer is
# refused rather than parsed, and the page says why
ALERTS_BYTES = 16 * 1024 * 1024
TEXT_CHARS = 200  # a label or summary as shown; the alerting service allows 4 KiB per value


def alerts_client(timeout_s: float, headers: dict[str, str] | None = None, verify: bool | str = True) -> HttpClient:
    """``headers``: the page's viewer credential (filled in at start, before the first round)."""
    settings = HttpSettings(timeout_s=timeout_s, max_response_bytes=ALERTS_BYTES, verify=verify,
                            headers=headers if headers is not None else {})
    return HttpClient(settings=settings)


def fetch(alerting_url: str, http: HttpClient, clock: Callable[[], float] = time.time) -> AlertsView:
    """Every unresolved alert of the alerting service at ``alerting_url``, sorted for triage."""
    url = alerting_url.rstrip("/") + "/api/v2/alerts"
    try:
        items = http.request("GET", url).json()
        rows = parse(items)
    except HttpError as exc:
        why = failure_reason(exc, http.settings.timeout_s)
        return AlertsView(error=f"cannot read {url}: {why}", checked_at=clock())
    except ValueError as exc:
        return AlertsView(error=f"unexpected answer from {url}: {exc}", checked_at=clock())
    return AlertsView(rows=tuple(sorted(rows, key=AlertRow.sort_key)), checked_at=clock())


def parse(items: object) -> list[AlertRow]:
    """Rows from a ``GET /api/v2/alerts`` answer; raises ValueError when it is not that shape."""
    if not isinstance(items, list):
        raise ValueError(f"expected a list of alerts, got {type(items).__name__}")
    rows = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            raise ValueError(f"alerts[{index}]: expected an object with labels")
        status = item.get("status") if isinstance(item.get("status"), dict) else {}
        if status.get("state") == "resolved":
            continue
        rows.append(_row(item, status))
    return rows


def _row(item: dict, status: dict) -> AlertRow:
    labels, annotations = item["labels"], item.get("annotations") or {}
    return AlertRow(
        alertname=_text(labels.get("alertname")),
        severity=_text(labels.get("severity")),
        jbox_id=_text(labels.get("jbox_id")),
        site=_text(labels.get("site")),
        region=_text(labels.get("region")),
        summary=_text(annotations.get("summary") if isinstance(annotations, dict) else ""),
        starts_at=_time(item.get("startsAt")),
        silenced_by=tuple(_text(s) for s in status.get("silencedBy") or ()),
        inhibited_by=tuple(_text(s) for s in status.get("inhibitedBy") or ()),
        fingerprint=_text(item.get("fingerprint")),
    )


def _text(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _time(value: object) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
