"""Inhibition: while a source alert fires, target alerts sharing its ``equal`` labels are not notified.

The default rule mutes every other alert of a box that stopped talking (``JBoxSilent``): its
overheating or power alerts come from stale data. Sources are indexed by their ``equal`` values once
per round, so checking 10,000 targets costs one dictionary look-up each.
"""

from __future__ import annotations

from collections.abc import Iterable

from alerting.alerts import StoredAlert
from alerting.matchers import Matcher, matches_all, parse
from config.alerting import InhibitRuleConfig


class InhibitRule:
    def __init__(self, config: InhibitRuleConfig) -> None:
        self.source: list[Matcher] = parse(config.sources())
        self.target: list[Matcher] = parse(config.targets())
        self.equal = tuple(config.equal)
        self._sources: dict[tuple[str, ...], set[str]] = {}

    def index(self, firing: Iterable[StoredAlert]) -> None:
        self._sources = {}
        for alert in firing:
            if matches_all(self.source, alert.labels):
                key = tuple(alert.labels.get(name, "") for name in self.equal)
                self._sources.setdefault(key, set()).add(alert.fingerprint)

    def inhibitors(self, alert: StoredAlert) -> list[str]:
        if not self._sources or not matches_all(self.target, alert.labels):
            return []
        sources = self._sources.get(tuple(alert.labels.get(name, "") for name in self.equal), set())
        # an alert matching both sides cannot inhibit itself
        return sorted(sources - {alert.fingerprint})


class Inhibitor:
    """``index(firing)`` once per round, then ``inhibited_by(alert)`` for each alert."""

    def __init__(self, configs: Iterable[InhibitRuleConfig]) -> None:
        self.rules = [InhibitRule(config) for config in configs]

    def index(self, firing: Iterable[StoredAlert]) -> None:
        firing = list(firing)
        for rule in self.rules:
            rule.index(firing)

    def inhibited_by(self, alert: StoredAlert) -> list[str]:
        found: list[str] = []
        for rule in self.rules:
            found += rule.inhibitors(alert)
        return found
