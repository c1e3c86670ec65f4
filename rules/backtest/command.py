"""The ``jboxmon rules backtest`` command: inventory, run, report."""

from __future__ import annotations

import math
from pathlib import Path

from inventory import Box, Registry
from rules.backtest.replay import replay
from rules.backtest.scoring import FLAP_GAP_S, rule_report, timings
from rules.backtest.truth import DEFAULT_MATCH, Fault, iso
from rules.model import Group
from storage import InfluxClient

PROG = "jboxmon rules backtest"


def data_inventory(client: InfluxClient, faults: list[Fault] | None) -> list[Box]:
    """Boxes seen in telemetry, plus the ground truth's boxes."""
    frame = client.query('SHOW TAG VALUES FROM "telemetry" WITH KEY = "jbox_id"')
    ids = set() if frame.empty else set(frame["value"].astype(str))
    ids |= {f.jbox_id for f in faults or ()}
    return [Box(jbox_id) for jbox_id in sorted(ids)]


def registry_inventory(path: Path) -> list[Box]:
    """The registry's boxes; empty when there is no registry file (opening would create one)."""
    if not path.exists():
        return []
    with Registry(path) as registry:
        return registry.boxes()


def run_backtest(
    groups: list[Group],
    client: InfluxClient,
    start: int,
    end: int,
    *,
    faults: list[Fault] | None = None,
    match: dict[str, tuple[str, ...]] | None = None,
    inventory: list[Box] | None = None,
    inventory_source: str = "given",
) -> dict:
    """Replay ``groups`` over ``[start, end]`` (ns) and return the report as a JSON-able dict."""
    if inventory is None:
        inventory, inventory_source = data_inventory(client, faults), "data"
    match = DEFAULT_MATCH if match is None else match
    result = replay(groups, client.query, inventory, start, end)
    timing = timings(result.rules.values())
    rules = [
        rule_report(one, timing[key], faults, match.get(one.rule.alert, ()), start, end)
        for key, one in result.rules.items()
    ]
    transients = [f for f in faults or () if not f.should_alert]
    return {
        "from": iso(start),
        "to": iso(end),
        "boxes": len(inventory),
        "inventory": inventory_source,
        "evaluations": result.evaluations,
        "queries": result.queries,
        "chunk_s": result.chunk_s,
        "seconds": round(result.seconds, 3),
        "truth": None
        if faults is None
        else {"faults": sum(f.should_alert for f in faults), "transients": len(transients)},
        "flap_gap_s": FLAP_GAP_S,
        "rules": rules,
    }


# -- rendering ----------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(report: dict) -> str:
    """A fixed-width table, one line per rule, then the definitions."""
    lines = [
        f"backtest {report['from']} .. {report['to']}: {report['boxes']} boxes ({report['inventory']}), "
        f"{report['evaluations']} evaluations, {report['queries']} queries in {report['seconds']:.1f}s "
        f"(chunks of {_duration(report['chunk_s'])})",
        "",
    ]
    scored = report["truth"] is not None
    head = f"{'rule':<28} {'alerts':>6} {'boxes':>5} {'firing':>8} {'flaps':>5} {'warm-up':>7}"
    if scored:
        head += (
            f"  {'TP':>4} {'precision':>9} {'detected':>8} {'excl.':>7} {'recall':>6}"
            f" {'delay mean':>10} {'p95':>7} {'max':>7} {'transient':>9}"
        )
    lines += [head, "-" * len(head)]
    for rule in report["rules"]:
        line = (
            f"{rule['rule']:<28} {rule['alerts']:>6} {rule['boxes']:>5} {_duration(rule['firing_s']):>8} "
            f"{rule['flaps']:>5} {rule['warm_up_alerts']:>7}"
        )
        if scored and "precision" in rule:
            delay = rule["delay_s"]
            line += (
                f"  {rule['true_positives']:>4} {_share(rule['precision']):>9} "
                f"{rule['detected']:>3}/{rule['detectable']:<4} {rule['excluded_early']:>3}+{rule['excluded_late']:<3}"
                f" {_share(rule['recall']):>6} {_duration(delay['mean']):>10} {_duration(delay['p95']):>7}"
                f" {_duration(delay['max']):>7} {rule['transients_alerted']:>4}/{rule['transients']:<4}"
            )
        elif scored:
            line += "  (fleet rule: counts only)"
        lines.append(line)
    missed = [
        f"  {rule['rule']}: {fault['jbox_id']} {fault['kind']} from {fault['start']}"
        for rule in report["rules"]
        for fault in rule.get("detectable_faults", ())
        if fault["delay_s"] is None
    ]
    if missed:
        lines += ["", "missed faults:", *missed]
    if scored:
        alerted = {r["alert"]: r["transients_alerted"] for r in report["rules"] if r.get("transients_alerted")}
        which = ", ".join(f"{name} {n}" for name, n in alerted.items()) or "none"
        lines += ["", f"transient deviations (should not alert): {report['truth']['transients']}, alerted by: {which}"]
    lines += ["", *_LEGEND.format(gap=_duration(report["flap_gap_s"])).splitlines()]
    return "\n".join(lines)


_LEGEND = """\
alerts: firing episodes; firing: their total time; flaps: episodes starting < {gap} after the
previous one on the same box resolved; warm-up: episodes starting before T1 + the rule's longest
window (not scored: the window may reach before the data).
TP/precision: scored episodes overlapping a should_alert fault of a mapped kind on the same box,
allowing the alert to start up to for + window + 2 intervals after the fault ended.
detected: detectable faults matched by >= 1 episode; excl.: faults starting before T1 + warm-up
+ faults starting too late to fire before T2 (start + for + window + interval > T2).
delay: first matching episode start - fault start; transient: short deviations alerted / all."""
