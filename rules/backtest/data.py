"""What the history holds before a replay: where its data begins, and which boxes it knows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inventory import Box, Registry
from rules.backtest.truth import NS, Fault
from rules.conditions.reading import source
from rules.model import Group
from storage import InfluxClient
from storage.influxql import quote_ident
from storage.slicing import Progress, SlicedQuery

BOXES_PER_QUERY = 250  # a rule's query over more boxes goes in batches of this many


def sources(groups: list[Group]) -> list[tuple[str | None, str, str]]:
    """(retention policy, measurement, field) of every condition that reads data."""
    found = []
    for group in groups:
        for rule in group.rules:
            for condition in (rule.condition, rule.clear):
                if condition is not None and not condition.reads_alert_states and hasattr(condition, "measurement"):
                    item = (condition.retention_policy, condition.measurement, condition.field)
                    if item not in found:
                        found.append(item)
    return found


def first_point(client: InfluxClient, groups: list[Group], start: int, end: int) -> int | None:
    """The time (ns) of the earliest point the rules read in ``[start, end]``, None when there is none."""
    earliest = None
    for policy, measurement, field in sources(groups):
        frame = client.query(
            f"SELECT first({quote_ident(field)}) FROM {source(measurement, policy)} "
            f"WHERE time >= {start} AND time <= {end}"
        )
        if not frame.empty:
            t = int(frame["time"].iloc[0].value)
            earliest = t if earliest is None else min(earliest, t)
    return earliest


def data_inventory(client: InfluxClient, faults: list[Fault] | None) -> list[Box]:
    """Boxes seen in telemetry, plus the ground truth's boxes."""
    frame = client.query('SHOW TAG VALUES FROM "telemetry" WITH KEY = "jbox_id"')
    ids = set() if frame.empty else set(frame["value"].astype(str))
    ids |= {f.jbox_id for f in faults or ()}
    return [Box(jbox_id) for jbox_id in sorted(ids)]


def registry_inventory(path: Path | Registry) -> list[Box] | None:
    """The registry's boxes (a file, or a Registry on PostgreSQL); None when there is no registry
    file (opening would create one)."""
    registry = path if isinstance(path, Registry) else Registry(path)
    if not registry.exists():
        return None
    with registry:
        return registry.boxes()


def known_from_window(inventory: list[Box], start: int, end: int) -> list[Box]:
    """Boxes registered after the replayed window count as registered at its start.

    History predates the registry (a fleet is registered once jboxmon is installed, its data may
    be restored from earlier): such a box that never reported in the window must still fire once
    the duration has passed, not never.
    """
    return [
        dataclasses.replace(box, registered_at=start / NS)
        if box.registered_at is not None and box.registered_at * NS > end
        else box
        for box in inventory
    ]


def reader(
    client: InfluxClient, inventory: list[Box], start: int, end: int, progress: Progress | None = None
) -> SlicedQuery:
    """How the replay reads history: each per-box rule query in batches of ``BOXES_PER_QUERY`` boxes,
    and one InfluxDB is too slow for halved (time on its interval, then boxes) instead of failing the
    backtest; ``progress`` follows the replayed time."""
    return SlicedQuery(
        client.query, [box.jbox_id for box in inventory], batch=BOXES_PER_QUERY, span=(start, end), progress=progress
    )
