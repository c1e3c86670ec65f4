"""The fleet against the inventory: which registered boxes the collector heard from lately.

A box is *reporting* when its ``last_seen`` (written by the collector for every accepted push) is
within ``reporting_window``; every other registered box is *silent*, including one that never
reported. Silent boxes are listed most recently lost first (what just broke is what matters), those
that never reported last, newest registration first.
"""

from __future__ import annotations

from collections.abc import Iterable

from inventory import Box
from status.model import FleetView, GroupCount, SilentBox


def summarize(boxes: Iterable[Box], now: float, reporting_window: float, checked_at: float | None = None) -> FleetView:
    """Counts per fleet, region and site, and every silent box, sorted (lists are capped when shown)."""
    since = now - reporting_window
    registered = reporting = 0
    silent: list[SilentBox] = []
    regions: dict[str, list[int]] = {}
    sites: dict[str, list[int]] = {}
    for box in boxes:
        live = box.last_seen is not None and box.last_seen >= since
        registered += 1
        reporting += live
        for groups, name in ((regions, box.region), (sites, box.site)):
            counts = groups.setdefault(name or "(none)", [0, 0])
            counts[0] += 1
            counts[1] += live
        if not live:
            silent.append(SilentBox(box.jbox_id, box.site, box.region, box.last_seen, box.registered_at))
    silent.sort(key=_lost_order)
    return FleetView(
        registered=registered,
        reporting=reporting,
        silent=tuple(silent),
        regions=tuple(sorted(_groups(regions), key=lambda g: g.name)),
        sites=tuple(sorted(_groups(sites), key=lambda g: (-g.silent, g.name))),
        checked_at=now if checked_at is None else checked_at,
    )


def _groups(counts: dict[str, list[int]]) -> list[GroupCount]:
    return [GroupCount(name, registered, reporting) for name, (registered, reporting) in counts.items()]


def _lost_order(box: SilentBox) -> tuple:
    if box.last_seen is not None:
        return (0, -box.last_seen, box.jbox_id)
    return (1, -(box.registered_at or 0.0), box.jbox_id)
