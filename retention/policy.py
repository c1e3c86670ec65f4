"""What leaves InfluxDB and when: the ``retention.policies`` and downsampling tiers as archive rules.

A rule is one measurement of one retention policy, optionally narrowed to some log levels (the
``level`` tag; InfluxDB 1.x deletes by tag, never by field). Lines of a policy with ``levels`` split
into one rule per distinct age: the listed levels with their ages, every other level with ``age``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from config.retention import DataRetentionConfig
from storage.influxql import quote_ident, regex_any_of

LEVEL_TAG = "level"


@dataclass(frozen=True)
class ArchiveRule:
    """Archive, then delete, rows of ``measurement`` in ``retention_policy`` older than ``age_s``.

    ``where`` is an InfluxQL tag condition ("" for every row); ``key`` names it in file names.
    """

    measurement: str
    retention_policy: str
    age_s: float
    where: str = ""
    key: str = "all"


def archive_rules(config: DataRetentionConfig) -> list[ArchiveRule]:
    """Every rule with an age (age 0 = kept in InfluxDB, so no rule)."""
    rules: list[ArchiveRule] = []
    for policy in config.policies:
        if not policy.levels:
            if policy.age > 0:
                rules.append(ArchiveRule(policy.measurement, policy.retention_policy, policy.age))
            continue
        listed = sorted(level for level, age in policy.levels.items() if age != policy.age)
        if policy.age > 0:
            where = f"{quote_ident(LEVEL_TAG)} !~ {regex_any_of(listed)}" if listed else ""
            rules.append(ArchiveRule(policy.measurement, policy.retention_policy, policy.age, where, "level-other"))
        by_age: dict[float, list[str]] = defaultdict(list)
        for level in listed:
            by_age[policy.levels[level]].append(level)
        for age, levels in sorted(by_age.items()):
            if age > 0:
                where = f"{quote_ident(LEVEL_TAG)} =~ {regex_any_of(levels)}"
                key = "level-" + "+".join(levels)
                rules.append(ArchiveRule(policy.measurement, policy.retention_policy, age, where, key))
    for tier in config.downsample:
        if tier.age > 0:
            rules += [ArchiveRule(f"{m}_{tier.name}", tier.retention_policy, tier.age) for m in tier.measurements]
    return rules
