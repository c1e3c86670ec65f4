"""Links in notifications: the status page's box view and its prefilled silence form.

``external_url`` (``alerting.external_url``) is where people reach the status page, the place
jboxmon's people look and silence (as Alertmanager's ``externalURL`` is its own UI). The shapes:

- ``{external_url}/box/{jbox_id}``: the box view (inventory row, alerts, chart);
- ``{external_url}/silences/new?matcher=alertname%3D%22X%22&matcher=jbox_id%3D%22Y%22``: the
  silence form, prefilled with one matcher per ``matcher`` parameter (Alertmanager's syntax).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

SILENCE_KEYS = ("alertname", "jbox_id")  # one alert on one box: what a silence from a notification mutes


def box_url(external_url: str, jbox_id: str) -> str:
    return f"{external_url.rstrip('/')}/box/{quote(jbox_id, safe='')}"


def matcher(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def silence_url(external_url: str, labels: Mapping[str, str], keys: Iterable[str] | None = None) -> str:
    """The silence form prefilled with ``keys`` of ``labels`` (default: alert name and box)."""
    chosen = [k for k in (SILENCE_KEYS if keys is None else keys) if labels.get(k)]
    query = urlencode([("matcher", matcher(k, labels[k])) for k in chosen])
    return f"{external_url.rstrip('/')}/silences/new" + (f"?{query}" if query else "")
