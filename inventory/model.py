"""What the inventory hands out: boxes, site gateways, and who a token speaks for."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    """One JBOX: where it is and what it does (the tags every point of it carries)."""

    jbox_id: str
    site: str = ""
    region: str = ""
    service: str = ""
    last_seen: float | None = None
    active_tokens: int = 0
    registered_at: float | None = None  # seconds since the epoch; None when not known (not in a registry)

    def tags(self) -> dict[str, str]:
        return {"jbox_id": self.jbox_id, "site": self.site, "region": self.region, "service": self.service}


@dataclass(frozen=True)
class Gateway:
    """A site gateway (a Telegraf, an edge aggregator) pushing for several boxes with one token.

    It is bound either to a site (every box the registry places at that site, now or later) or to
    an explicit set of boxes. It writes line protocol only, and only for the boxes it covers; the
    tags of each point still come from the registry's row of the box it names.
    """

    gateway_id: str
    site: str = ""
    boxes: frozenset[str] = field(default_factory=frozenset)
    last_seen: float | None = None
    active_tokens: int = 0

    def covers(self, box: Box) -> bool:
        return bool(self.site) and box.site == self.site or box.jbox_id in self.boxes

    def describe(self) -> str:
        return f"site {self.site!r}" if self.site else f"boxes {', '.join(sorted(self.boxes))}"


Principal = Box | Gateway
"""Who a valid token speaks for: one box, or a gateway for several."""
