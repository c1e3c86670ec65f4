"""Inhibition: while a source alert fires, target alerts sharing its ``equal`` labels are not notified.

The default rule mutes every other alert of a box that stopped talking (``JBoxSilent``): its
overheating or power alerts come from stale data. Semantics are Alertmanager's (``inhibit/inhibit.go``):

- a source inhibits only until its ``endsAt``: the index keeps the alert objects and judges "firing"
  at the time asked, so a source that ends by its own ``endsAt`` (no new post) stops inhibiting then;
  ``next_change(now)`` says when the next indexed source ends, so the service can recompute states
  at that moment rather than at the next arrival;
- an alert matching both sides of a rule is not inhibited by a source that also matches the target
  side (two such alerts would otherwise inhibit each other and nobody would be told);
- the first rule that inhibits decides (its sources are listed in ``inhibitedBy``).

Sources are indexed by their ``equal`` values once per round, so checking 10,000 targets costs one
dictionary look-up each.
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
        self._sources: dict[tuple[str, ...], list[StoredAlert]] = {}

    def index(self, alerts: Iterable[StoredAlert]) -> None:
        self._sources = {}
        for alert in alerts:
            if matches_all(self.source, alert.labels):
                self._sources.setdefault(self._equal_key(alert), []).append(alert)

    def inhibitors(self, alert: StoredAlert, now: float) -> list[str]:
        if not self._sources or not matches_all(self.target, alert.labels):
            return []
        two_sided = matches_all(self.source, alert.labels)
        return sorted(
            source.fingerprint
            for source in self._sources.get(self._equal_key(alert), ())
            if not source.resolved(now) and not (two_sided and matches_all(self.target, source.labels))
        )

    def ends(self) -> Iterable[float]:
        return (source.ends_at for sources in self._sources.values() for source in sources)

    def _equal_key(self, alert: StoredAlert) -> tuple[str, ...]:
        return tuple(alert.labels.get(name, "") for name in self.equal)


class Inhibitor:
    """``index(alerts)`` when alerts arrive, then ``inhibited_by(alert, now)`` for each alert."""

    def __init__(self, configs: Iterable[InhibitRuleConfig]) -> None:
        self.rules = [InhibitRule(config) for config in configs]

    def index(self, alerts: Iterable[StoredAlert]) -> None:
        alerts = list(alerts)
        for rule in self.rules:
            rule.index(alerts)

    def inhibited_by(self, alert: StoredAlert, now: float) -> list[str]:
        for rule in self.rules:
            found = rule.inhibitors(alert, now)
            if found:
                return found
        return []

    def next_change(self, now: float) -> float | None:
        """When the next indexed source ends (its targets may be released then), or None."""
        return min((end for rule in self.rules for end in rule.ends() if end > now), default=None)
