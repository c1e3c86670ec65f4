"""The ``jboxmon rules backtest`` domain: typed options in, a JSON-able report out.

The command line (``jboxmon/commands/backtest_cmd.py``) parses arguments into
:class:`BacktestOptions`; everything below takes only typed values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from inventory import Box
from rules.backtest.data import data_inventory, first_point, known_from_window, reader
from rules.backtest.episodes import episode_rows
from rules.backtest.episodes import to_text as episodes_text
from rules.backtest.replay import replay
from rules.backtest.scoring import FLAP_GAP_S, rule_report, timings
from rules.backtest.truth import DEFAULT_MATCH, NS, BacktestError, Fault, iso, load_truth, parse_matches
from rules.loader import RulesError, load_rules
from rules.model import Group
from storage import InfluxClient
from storage.slicing import Progress

PROG = "jboxmon rules backtest"


@dataclass(frozen=True)
class BacktestOptions:
    """What a backtest was asked for. Times in ns since the epoch."""

    rule_files: tuple[Path, ...]
    start: int
    end: int
    truth: Path | None = None
    match: tuple[str, ...] = ()  # ALERT=KIND[,KIND] overrides of DEFAULT_MATCH
    fault_kinds: frozenset[str] = frozenset()  # kinds --match may name besides the truth's own


@dataclass
class BacktestInputs:
    """The options' files, loaded and checked."""

    groups: list[Group]
    faults: list[Fault] | None
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_inputs(options: BacktestOptions) -> BacktestInputs:
    """Rules, ground truth and matches; raises BacktestError with a pointed message (exit 2)."""
    if options.end <= options.start:
        raise BacktestError(f"--to ({iso(options.end)}) must be after --from ({iso(options.start)})")
    try:
        groups = load_rules(list(options.rule_files))
    except RulesError as exc:
        raise BacktestError("\n".join(exc.problems)) from None
    faults = load_truth(options.truth) if options.truth is not None else None
    alerts = {r.alert for g in groups for r in g.rules}
    kinds = set(options.fault_kinds) | {f.kind for f in faults or ()}
    return BacktestInputs(groups, faults, parse_matches(options.match, alerts, kinds))


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
    box_energy_kwh: float = 1000.0,
    payload_versions: dict | None = None,
    progress: Progress | None = None,
) -> dict:
    """Replay ``groups`` over ``[start, end]`` (ns) and return the report as a JSON-able dict.

    The report's ``warnings`` name what makes it doubtful; ``data.points_in_window`` is False when
    the window holds no data at all (the command then exits non-zero).
    """
    if inventory is None:
        inventory, inventory_source = data_inventory(client, faults), "data"
    inventory = known_from_window(inventory, start, end)
    match = DEFAULT_MATCH if match is None else match
    lookback = max((c.window_s(int(g.interval)) for g in groups for r in g.rules for c in _conditions(r)), default=0)
    first = first_point(client, groups, start - lookback * NS, end)
    in_window = first_point(client, groups, start, end) is not None
    query = reader(client, inventory, start, end, progress)
    result = replay(
        groups,
        query,
        inventory,
        start,
        end,
        data_start=first,
        box_energy_kwh=box_energy_kwh,
        payload_versions=payload_versions,
    )
    timing = timings(result.rules.values())
    rules, episodes = [], []
    for key, one in result.rules.items():
        kinds = match.get(one.rule.alert, ())
        rules.append(rule_report(one, timing[key], faults, kinds, start, end))
        episodes += episode_rows(one, timing[key], faults, kinds, start, end)
    transients = [f for f in faults or () if not f.should_alert]
    warnings = [] if in_window else [f"no data in the window {iso(start)} .. {iso(end)}: nothing to replay"]
    return {
        "from": iso(start),
        "to": iso(end),
        "boxes": len(inventory),
        "inventory": inventory_source,
        "data": {"first_point": iso(first) if first is not None else None, "points_in_window": in_window},
        "warnings": warnings,
        "evaluations": result.evaluations,
        "queries": result.queries,
        "chunk_s": result.chunk_s,
        "seconds": round(result.seconds, 3),
        "truth": None
        if faults is None
        else {"faults": sum(f.should_alert for f in faults), "transients": len(transients)},
        "flap_gap_s": FLAP_GAP_S,
        "rules": rules,
        "episodes": sorted(episodes, key=lambda e: (e["start"], e["rule"], e["jbox_id"])),
    }


def _conditions(rule) -> list:
    return [c for c in (rule.condition, rule.clear) if c is not None]


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
    lines += ["", *episodes_text(report["episodes"])]
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
delay: first matching episode start - fault start; transient: short deviations alerted / all.
episodes: peak is the worst value while firing; match is the fault it matched, "false alarm",
"warm-up" (not scored), "fleet" or "unscored" (the alert detects no known fault kind)."""
