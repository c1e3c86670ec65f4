"""The page's headline: the worst of the monitoring components and of the alerts, said in words.

A green "Monitoring: up" with critical alerts firing would be a lie by omission: the banner is red
when a component is down or a critical alert fires (unsilenced, uninhibited), amber when one is
degraded, the alerts cannot be read, or a lesser alert fires, green only when nothing is wrong. The
headline leads with what is worst and counts it ("4 critical alerts firing"); the rest follows.
"""

from __future__ import annotations

from status.model import DEGRADED, DISABLED, DOWN, Snapshot

RED, AMBER, GREEN = "red", "amber", "green"
LEVEL_ORDER = {RED: 0, AMBER: 1, GREEN: 2}
SEVERITIES = ("critical", "error", "warning", "info")
RED_SEVERITIES = {"critical"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def banner(snapshot: Snapshot) -> dict:
    """``{"level": red|amber|green, "headline": str, "details": [str]}``, worst first."""
    findings: list[tuple[str, str]] = []
    down = [c.name for c in snapshot.components if c.state == DOWN]
    degraded = [c.name for c in snapshot.components if c.state == DEGRADED]
    if down:
        findings.append((RED, f"monitoring down: {', '.join(down)}"))
    view = snapshot.alerts
    if view.error is not None:
        findings.append((AMBER, "alerts unknown (the alerting service cannot be read)"))
    else:
        by_severity = view.counts()["by_severity"]
        for severity in (*SEVERITIES, *sorted(set(by_severity) - set(SEVERITIES))):
            count = by_severity.get(severity, 0)
            if count:
                level = RED if severity in RED_SEVERITIES else AMBER
                findings.append((level, f"{_plural(count, severity + ' alert')} firing"))
    if degraded:
        findings.append((AMBER, f"monitoring degraded: {', '.join(degraded)}"))
    fleet = snapshot.fleet
    if fleet.error is None and fleet.registered and fleet.registered > fleet.reporting:
        findings.append((AMBER, f"{fleet.registered - fleet.reporting} of {fleet.registered} boxes silent"))
    findings.sort(key=lambda item: LEVEL_ORDER[item[0]])  # stable: the order above within a level
    if not findings:
        watched = [c for c in snapshot.components if c.state != DISABLED]
        return {"level": GREEN, "headline": f"All clear: monitoring up ({len(watched)} components), no alert firing",
                "details": []}  # fmt: skip
    texts = [text for _, text in findings]
    headline = texts[0][0].upper() + texts[0][1:]
    return {"level": findings[0][0], "headline": headline, "details": texts[1:]}
