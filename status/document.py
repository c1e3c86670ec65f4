"""The one document both faces render: ``GET /api/v1/status`` returns it as JSON, the page as HTML.

Lists are capped at ``status.max_listed`` (each with how many more were left out); counts are exact.
Ages are computed at the request, from the snapshot's times, so a page served from an old snapshot
shows the true "checked 40 s ago" and says it is stale.
"""

from __future__ import annotations

from collections.abc import Callable

from config.status import StatusConfig
from status.banner import banner
from status.model import FleetView, Snapshot, iso
from status.silenceform import silence_link


def build(snapshot: Snapshot, config: StatusConfig, now: float, link: Callable[[str], str]) -> dict:
    age = max(0.0, now - snapshot.taken_at)
    return {
        "generated_at": iso(now),
        "snapshot_at": iso(snapshot.taken_at),
        "snapshot_age_s": round(age, 1),
        "stale": age > config.stale_after,
        "refresh_s": config.refresh,
        "overall": snapshot.overall(),  # the components' worst state
        "banner": banner(snapshot),  # the worst of components and alerts, in words
        "components": [c.to_api(now, config.stale_after) for c in snapshot.components],
        "fleet": _fleet(snapshot.fleet, config, now, link),
        "alerts": _alerts(snapshot, config.max_listed, now, link),
    }


def _fleet(fleet: FleetView, config: StatusConfig, now: float, link: Callable[[str], str]) -> dict:
    cap = config.max_listed
    out = {
        "error": fleet.error,
        "checked_at": iso(fleet.checked_at),
        "reporting_window_s": config.reporting_window,
        "registered": fleet.registered,
        "reporting": fleet.reporting,
        "silent": fleet.registered - fleet.reporting,
    }
    out["silent_boxes"] = [
        {
            "jbox_id": box.jbox_id,
            "site": box.site,
            "region": box.region,
            "last_seen": iso(box.last_seen),
            "silent_for_s": None if box.last_seen is None else round(max(0.0, now - box.last_seen), 1),
            "registered_at": iso(box.registered_at),
            "link": link(box.jbox_id),
        }
        for box in fleet.silent[:cap]
    ]
    out["silent_boxes_more"] = max(0, len(fleet.silent) - cap)
    for key, groups in (("regions", fleet.regions), ("sites", fleet.sites)):
        out[key] = [
            {"name": g.name, "registered": g.registered, "reporting": g.reporting, "silent": g.silent}
            for g in groups[:cap]
        ]
        out[f"{key}_more"] = max(0, len(groups) - cap)
    return out


def _alerts(snapshot: Snapshot, cap: int, now: float, link: Callable[[str], str]) -> dict:
    view = snapshot.alerts
    items = []
    for row in view.rows[:cap]:
        item = row.to_api(now)
        item["link"] = link(row.jbox_id) if row.jbox_id else None
        items.append(item)
    return {
        "error": view.error,
        "checked_at": iso(view.checked_at),
        "counts": view.counts() if view.error is None else None,
        "items": items,
        "more": max(0, len(view.rows) - cap),
    }


def box(snapshot: Snapshot, jbox_id: str, config: StatusConfig, now: float) -> dict | None:
    """One box's inventory row, whether it reports, and every alert naming it; None if not registered."""
    found = snapshot.boxes.get(jbox_id)
    if found is None:
        return None
    seen = found.last_seen
    return {
        "jbox_id": found.jbox_id,
        "site": found.site,
        "region": found.region,
        "service": found.service,
        "registered_at": iso(found.registered_at),
        "last_seen": iso(seen),
        "last_seen_ago_s": None if seen is None else round(max(0.0, now - seen), 1),
        "reporting": seen is not None and now - seen <= config.reporting_window,
        "active_tokens": found.active_tokens,
        "alerts": [
            {**row.to_api(now), "silence_link": silence_link({"alertname": row.alertname, "jbox_id": row.jbox_id})}
            for row in snapshot.alerts.rows
            if row.jbox_id == jbox_id
        ][: config.max_listed],
        "silence_link": silence_link({"jbox_id": found.jbox_id}),
        "alerts_error": snapshot.alerts.error,
    }
