"""What the APIs show of the held alerts.

- ``alertmanager_view``: an item of Alertmanager's ``GET /api/v2/alerts`` (``GettableAlert``), with only
  Alertmanager's states (``active``, ``suppressed``; ``unprocessed`` never occurs here, every alert is
  judged when read). Resolved alerts are left out there, as Alertmanager leaves them out.
- ``jboxmon_view``: jboxmon's own ``GET /api/jboxmon/v1/alerts``: resolved alerts still held too, a plain state
  (``firing``, ``silenced``, ``inhibited``, ``resolved``), and what silences and inhibits each alert
  (the silence's author and comment, the source alert's name and box), for ``jboxmon alerts list``.
"""

from __future__ import annotations

from collections.abc import Callable

from alerting.alerts import StoredAlert, iso


def alertmanager_view(alert: StoredAlert, now: float, receivers: list[str]) -> dict:
    suppressed = alert.suppressed_by
    view = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(alert.ends_at),
        "updatedAt": iso(alert.updated_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": name} for name in receivers],
        "status": {
            "state": "suppressed" if any(suppressed.values()) else "active",
            "silencedBy": list(suppressed.get("silencedBy", [])),
            # Alertmanager names the first inhibiting source it finds; jboxmon's own view lists them all
            "inhibitedBy": list(suppressed.get("inhibitedBy", []))[:1],
        },
    }
    if not alert.generator_url:
        del view["generatorURL"]  # Alertmanager omits it when empty
    return view


def jboxmon_view(
    alert: StoredAlert,
    now: float,
    receivers: list[str],
    silence: Callable[[str], dict | None],
    source: Callable[[str], StoredAlert | None],
) -> dict:
    """``silence(id)`` and ``source(fingerprint)`` look up what suppresses the alert (None when gone)."""
    resolved = alert.resolved(now)
    suppressed = {} if resolved else alert.suppressed_by
    silenced_by = list(suppressed.get("silencedBy", []))
    inhibited_by = list(suppressed.get("inhibitedBy", []))
    state = "resolved" if resolved else "silenced" if silenced_by else "inhibited" if inhibited_by else "firing"
    view = alertmanager_view(alert, now, receivers)
    del view["status"]
    view.update({
        "state": state,
        "silencedBy": [{"id": sid, **(silence(sid) or {})} for sid in silenced_by],
        "inhibitedBy": [_source(fp, source(fp)) for fp in inhibited_by],
        "ageSeconds": round(max(0.0, now - alert.starts_at), 3),
    })  # fmt: skip
    return view


def _source(fingerprint: str, alert: StoredAlert | None) -> dict:
    if alert is None:
        return {"fingerprint": fingerprint}
    return {"fingerprint": fingerprint, "alertname": alert.name, "jbox_id": alert.labels.get("jbox_id", "")}
