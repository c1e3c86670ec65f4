"""The routing tree, as Alertmanager walks it: an alert goes down to the deepest matching child;
``continue: true`` lets it match the following siblings too; when no child matches, the node itself
takes it. Receiver, ``group_by`` and timers are inherited from the parent when unset.

A ``disabled`` route is left out of the tree, so its alerts go where they would go without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerting.identity import route_key
from alerting.matchers import Matcher, matches_all
from config.alerting import RouteConfig
from config.matchers import parse_matchers


@dataclass
class Route:
    id: str  # position in the tree: "root", "root.0", "root.0.2"
    key: str  # Alertmanager's Route.Key(): '{}/{severity="critical"}' (siblings may share one)
    receiver: str
    group_by: tuple[str, ...] | None  # None: every label (Alertmanager's '...')
    group_wait: float
    group_interval: float
    repeat_interval: float
    matchers: list[Matcher] = field(default_factory=list)
    continue_: bool = False
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: list[Route] = field(default_factory=list)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that take an alert with these labels (the root always takes it)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            taken = child.match(labels)
            if taken:
                found += taken
                if not child.continue_:
                    break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by is None:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if labels.get(name, "") != ""}

    def walk(self) -> list[Route]:
        return [self] + [r for child in self.routes for r in child.walk()]


def build(config: RouteConfig, parent: Route | None = None, route_id: str = "root") -> Route:
    matchers = config.all_matchers()
    route = Route(
        id=route_id,
        key=route_key(parent.key if parent else None, _key_matchers(config)),
        receiver=config.receiver or (parent.receiver if parent else ""),
        group_by=_group_by(config, parent),
        group_wait=_pick(config.group_wait, parent, "group_wait", 30),
        group_interval=_pick(config.group_interval, parent, "group_interval", 300),
        repeat_interval=_pick(config.repeat_interval, parent, "repeat_interval", 4 * 3600),
        matchers=[Matcher(name, op, value) for name, op, value in matchers],
        continue_=config.continue_,
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
    )
    route.routes = [
        build(child, route, f"{route_id}.{index}") for index, child in enumerate(config.routes) if not child.disabled
    ]
    return route


def _key_matchers(config: RouteConfig) -> list[tuple[str, str, str]]:
    """The matchers as Alertmanager prints them in ``Route.Key()``: a ``match_re`` value is shown the way
    its config type stores it, anchored (``^(?:Overheat.*)$``); ``matchers`` regexes as written."""
    found = [m for text in config.matchers for m in parse_matchers(text)]
    found += [(name, "=", value) for name, value in config.match.items()]
    found += [(name, "=~", f"^(?:{value})$") for name, value in config.match_re.items()]
    return found


def _group_by(config: RouteConfig, parent: Route | None) -> tuple[str, ...] | None:
    if config.group_by is not None:
        return None if "..." in config.group_by else tuple(config.group_by)
    return parent.group_by if parent is not None else ()  # the root groups all alerts together by default


def _pick(value: float | None, parent: Route | None, name: str, default: float) -> float:
    if value is not None:
        return value
    return getattr(parent, name) if parent is not None else default
