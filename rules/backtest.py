"""``jboxmon rules backtest``: replay the real state machine over history and score it.

::

    jboxmon rules backtest --rules rules/default/jbox.yaml --from 2025-11-29T12:00:00Z \\
        --to 2025-11-29T18:00:00Z --truth var/ground_truth.jsonl [--match LogStorm=log_storm] [--json]

Every group is evaluated at each multiple of its interval in ``[T1, T2]`` by :class:`RuleEngine`, the
code that runs live: the same queries, the same pandas, the same state machine. Evaluation times go
in chunks (an hour, less for large fleets) so memory stays bounded while each rule still runs one
query per chunk. Conditions look back their window before each evaluation time, so the first
evaluations read data from before T1 when there is some.

Definitions (also printed under the table):

- **episode**: one firing period of one rule on one box, from the ``firing`` transition to the
  ``resolved`` one (or T2 when still firing then: "open"). Pending alerts that never fire are not
  episodes. ``alerts`` counts episodes, ``firing`` sums their durations.
- **flap**: an episode that starts less than ``FLAP_GAP_S`` (10 min) after the previous episode of
  the same rule on the same box resolved.
- **warm-up** of a rule: its longest condition window (65 min for a 65-min heartbeat absence).
  When T1 is where the data begins, the first evaluations see a partly empty window (every box
  looks silent), so episodes starting before T1 + warm-up are reported apart and not scored.
- **lag** of a rule: ``for`` + window + 2 intervals, how long after a fault's end its alert may
  still start (it needs a full window of bad data and then ``for``).
- an episode on box B **matches** a fault on B when it overlaps ``[fault.start, fault.end + lag)``.
- **precision** (box rules with mapped fault kinds): scored episodes matching a ``should_alert``
  fault of a mapped kind / scored episodes. Fleet rules report counts only.
- **recall**: detectable faults of mapped kinds matched by at least one episode / detectable
  faults. A fault is detectable when ``start >= T1 + warm-up`` (its onset is inside the replay with
  a full window behind it; earlier ones are counted as "early") and ``start + for + window +
  interval <= T2`` (the alert had time to fire before the replay ends; later ones are "late").
- **delay** of a detected fault: first matching episode start - fault start (0 if it was already
  firing); mean, p95 and max over the rule's detected faults.
- **transients**: ``should_alert: false`` events (short power deviations) matched by a scored
  episode of the rule. For SetpointNotFollowed this must be 0.

Exit codes: 0 report printed, 1 InfluxDB failed, 2 bad arguments (pointed message on stderr).
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from collector.registry import Box, Registry
from rules.engine import Evaluation, RuleEngine
from rules.model import Group, Rule
from storage import InfluxClient, InfluxError

NS = 1_000_000_000
FLAP_GAP_S = 600
CHUNK_S = 3600
CELLS_PER_QUERY = 2_000_000  # boxes x buckets one query may return before chunks get shorter
PROG = "jboxmon rules backtest"

# Which ground-truth fault kinds each shipped alert detects; --match overrides or extends this.
# ``kind[key=value]`` also requires a detail of the event (the direction of a SoC drift).
DEFAULT_MATCH: dict[str, tuple[str, ...]] = {
    "SetpointNotFollowed": ("power_stuck", "setpoint_not_followed"),
    "OverheatWarning": ("overheat",),
    "OverheatCritical": ("overheat",),
    "SoCLow": ("soc_drift[direction=low]",),
    "SoCHigh": ("soc_drift[direction=high]",),
    "JBoxSilent": ("silent",),
    "TelemetryStale": ("silent",),
    "LogStorm": ("log_storm",),
}


class BacktestError(ValueError):
    """Bad arguments or input files: the message says which and what is expected (exit 2)."""


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One ground-truth event (times in ns)."""

    jbox_id: str
    kind: str
    start: int
    end: int
    should_alert: bool
    details: tuple[tuple[str, str], ...] = ()

    def is_a(self, spec: str) -> bool:
        """``kind`` or ``kind[key=value]``: this event's kind (and detail)."""
        kind, _, qualifier = spec.partition("[")
        if kind != self.kind:
            return False
        if not qualifier:
            return True
        key, _, value = qualifier.rstrip("]").partition("=")
        return (key, value) in self.details


@dataclass
class Episode:
    """One firing period of a rule on a box; ``end`` None while still firing."""

    jbox_id: str
    start: int
    end: int | None = None

    def until(self, horizon: int) -> int:
        return horizon if self.end is None else self.end


def parse_time(text: str, option: str) -> int:
    """ISO 8601 (UTC when no zone) -> ns since the epoch."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BacktestError(f"{option}: expected an ISO-8601 time like '2025-11-29T16:00:00Z', got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(round(moment.timestamp() * 1000)) * 1_000_000


_TRUTH_KEYS = {"jbox_id", "kind", "start", "end", "should_alert"}
_SPEC = re.compile(r"^([A-Za-z0-9_.-]+)(\[[A-Za-z0-9_.-]+=[^\]]*\])?$")


def load_truth(path: Path) -> list[Fault]:
    """The simulator's ground truth: one JSON object per line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise BacktestError(f"--truth {path}: cannot read it: {exc.strerror or exc}") from None
    faults = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            faults.append(
                Fault(
                    str(record["jbox_id"]),
                    str(record["kind"]),
                    parse_time(record["start"], "start"),
                    parse_time(record["end"], "end"),
                    bool(record.get("should_alert", True)),
                    tuple(sorted((str(k), str(v)) for k, v in record.items() if k not in _TRUTH_KEYS)),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise BacktestError(
                f"--truth {path}:{number}: expected a JSON object with jbox_id, kind, start, end (RFC 3339) "
                f"and should_alert: {what}"
            ) from None
    return faults


def parse_matches(values: Iterable[str], alerts: set[str], kinds: set[str]) -> dict[str, tuple[str, ...]]:
    """The defaults, with each ``ALERT=KIND[,KIND]`` replacing or adding the kinds of ALERT.

    A kind may carry one detail to match, ``soc_drift[direction=low]``.
    """
    matches = dict(DEFAULT_MATCH)
    for value in values:
        name, sep, listed = value.partition("=")
        wanted = tuple(k.strip() for k in listed.split(",") if k.strip())
        if not sep or not name.strip() or not wanted:
            raise BacktestError(
                f"--match {value!r}: expected ALERT=KIND[,KIND], "
                "e.g. SetpointNotFollowed=power_stuck,setpoint_not_followed"
            )
        name = name.strip()
        if name not in alerts:
            raise BacktestError(f"--match {value!r}: no rule alerts {name!r} (alerts: {', '.join(sorted(alerts))})")
        bad = [k for k in wanted if not _SPEC.match(k)]
        if bad:
            raise BacktestError(f"--match {value!r}: expected KIND or KIND[key=value], got {bad[0]!r}")
        unknown = [k for k in wanted if k.partition("[")[0] not in kinds]
        if unknown:
            raise BacktestError(
                f"--match {value!r}: unknown fault kind {unknown[0]!r} (known: {', '.join(sorted(kinds))})"
            )
        matches[name] = wanted
    return matches


# -- replay -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """What scoring needs to know about a rule's timing, in ns."""

    interval: int
    for_: int
    window: int
    inherited_warm_up: int = 0  # a fleet rule reads box alerts: their warm-up is its warm-up too

    @classmethod
    def of(cls, group: Group, rule: Rule) -> Timing:
        step = int(group.interval)
        conditions = [c for c in (rule.condition, rule.clear) if c is not None]
        window = max(c.window_s(step) for c in conditions)
        return cls(step * NS, int(rule.for_ * NS), window * NS)

    @property
    def warm_up(self) -> int:
        return max(self.window, self.inherited_warm_up)

    @property
    def lag(self) -> int:
        return self.for_ + self.window + 2 * self.interval


@dataclass
class RuleReplay:
    """One rule's episodes over the replay."""

    key: str
    group: Group
    rule: Rule
    fleet: bool
    episodes: list[Episode] = field(default_factory=list)
    open: dict[str, Episode] = field(default_factory=dict)

    def record(self, to: str, jbox_id: str, at: int) -> None:
        if to == "firing":
            self.open[jbox_id] = episode = Episode(jbox_id, at)
            self.episodes.append(episode)
        elif to == "resolved" and jbox_id in self.open:
            self.open.pop(jbox_id).end = at


@dataclass
class Replay:
    """Episodes per rule key, plus what the replay cost."""

    rules: dict[str, RuleReplay]
    evaluations: int = 0
    queries: int = 0
    seconds: float = 0.0
    chunk_s: int = CHUNK_S


class _FleetReplayEngine(RuleEngine):
    """Fleet rules, fed the box alerts replayed so far as they were at the evaluation time ``at``.

    Live, the fleet group reads the box groups' current states; a backtest evaluates the box
    groups a chunk ahead, so the states at ``at`` are rebuilt from the recorded episodes instead.
    """

    def __init__(self, groups: list[Group], inventory, box_rules: list[RuleReplay]) -> None:
        super().__init__(groups, lambda statement: None, inventory)
        self.at = 0
        self._box_rules = box_rules
        self._labels = {r.rule.alert: r.rule.labels for r in box_rules}
        self._recent: list[tuple[str, Episode]] = []

    def forget_before(self, t: int) -> None:
        """Keep only episodes that may still be firing at ``t`` or later (bounded work per time)."""
        self._recent = [(r.rule.alert, e) for r in self._box_rules for e in r.episodes if e.until(t + 1) > t]

    def firing_by_alert(self) -> dict[str, set[str]]:
        firing: dict[str, set[str]] = {r.rule.alert: set() for r in self._box_rules}
        for alert, episode in self._recent:
            if episode.start <= self.at < episode.until(self.at + 1):
                firing[alert].add(episode.jbox_id)
        return firing

    def rule_labels(self) -> dict[str, dict[str, str]]:
        return self._labels


def _split(groups: list[Group]) -> tuple[list[Group], list[Group]]:
    """Groups restricted to their box rules, and to their fleet rules (enabled ones only)."""
    box, fleet = [], []
    for group in groups:
        enabled = [r for r in group.rules if r.enabled]
        for target, rules in (
            (box, [r for r in enabled if r.condition.kind != "fleet_ratio"]),
            (fleet, [r for r in enabled if r.condition.kind == "fleet_ratio"]),
        ):
            if rules:
                target.append(group.model_copy(update={"rules": rules}))
    return box, fleet


def _times(step_s: int, start: int, stop: int) -> list[int]:
    """Multiples of the step in ``[start, stop)``."""
    step = step_s * NS
    first = -(-start // step) * step
    return list(range(first, stop, step))


def chunk_seconds(boxes: int, groups: list[Group]) -> int:
    """An hour of evaluation times per chunk, shorter when one query would return too many cells."""
    finest = min((int(g.interval) for g in groups), default=60)
    fits = CELLS_PER_QUERY * finest // max(1, boxes)
    return int(max(60, min(CHUNK_S, fits // 60 * 60)))


def replay(groups: list[Group], query: Callable, inventory: list[Box], start: int, end: int) -> Replay:
    """Evaluate every group at its interval over ``[start, end]``, chunk by chunk, recording episodes.

    Raises InfluxError when a query fails: a replay with holes would score wrongly.
    """
    started = time.perf_counter()
    calls = [0]

    def counted(statement: str):
        calls[0] += 1
        return query(statement)

    box_groups, fleet_groups = _split(groups)
    engine = RuleEngine(box_groups, counted, lambda: inventory)
    rules = {
        loaded.key: RuleReplay(loaded.key, loaded.group, loaded.rule, False)
        for loaded_rules in engine.rules.values()
        for loaded in loaded_rules
    }
    box_rules = list(rules.values())
    fleet_engine = _FleetReplayEngine(fleet_groups, lambda: inventory, box_rules)
    for loaded_rules in fleet_engine.rules.values():
        for loaded in loaded_rules:
            rules[loaded.key] = RuleReplay(loaded.key, loaded.group, loaded.rule, True)
    chunk = chunk_seconds(len(inventory), groups)
    result = Replay(rules, chunk_s=chunk)
    for c0 in range(start, end + 1, chunk * NS):
        c1 = min(c0 + chunk * NS, end + 1)
        for group in box_groups:
            times = _times(int(group.interval), c0, c1)
            if times:
                _collect(engine.evaluate(group, times), rules)
                result.evaluations += len(times)
        fleet_engine.forget_before(c0)
        for group in fleet_groups:
            for t in _times(int(group.interval), c0, c1):
                fleet_engine.at = t
                _collect(fleet_engine.evaluate(group, [t]), rules)
                result.evaluations += 1
    result.queries = calls[0]
    result.seconds = time.perf_counter() - started
    return result


def _collect(evaluation: Evaluation, rules: dict[str, RuleReplay]) -> None:
    if evaluation.errors:
        key, error = next(iter(evaluation.errors.items()))
        raise InfluxError(f"rule {key}: {error}", retryable=False)
    for loaded, transition in evaluation.transitions:
        rules[loaded.key].record(transition.to, transition.key, transition.at)


# -- scoring ------------------------------------------------------------------------------------


def matches(episode: Episode, fault: Fault, lag: int, horizon: int) -> bool:
    """The episode (on the fault's box) overlaps ``[fault.start, fault.end + lag)``."""
    return episode.jbox_id == fault.jbox_id and episode.start < fault.end + lag and episode.until(horizon) > fault.start


def count_flaps(episodes: list[Episode], gap_ns: int = FLAP_GAP_S * NS) -> int:
    """Episodes starting less than ``gap_ns`` after the previous one on the same box resolved."""
    flaps = 0
    last_end: dict[str, int] = {}
    for episode in sorted(episodes, key=lambda e: (e.jbox_id, e.start)):
        previous = last_end.get(episode.jbox_id)
        if previous is not None and episode.start - previous < gap_ns:
            flaps += 1
        if episode.end is not None:
            last_end[episode.jbox_id] = episode.end
    return flaps


def delay_stats(delays_s: list[float]) -> dict[str, float | None]:
    if not delays_s:
        return {"mean": None, "p95": None, "max": None}
    values = np.asarray(delays_s, dtype=float)
    return {"mean": float(values.mean()), "p95": float(np.percentile(values, 95)), "max": float(values.max())}


def score_rule(
    episodes: list[Episode],
    faults: list[Fault],
    kinds: Iterable[str],
    timing: Timing,
    start: int,
    end: int,
) -> dict:
    """Precision, recall, delay and transient hits of one box rule (see the module docstring)."""
    kinds = sorted(set(kinds))
    by_box: dict[str, list[Episode]] = {}
    for episode in episodes:
        by_box.setdefault(episode.jbox_id, []).append(episode)
    horizon = end + 1
    targets = [f for f in faults if f.should_alert and any(f.is_a(k) for k in kinds)]
    targets_by_box: dict[str, list[Fault]] = {}
    for fault in targets:
        targets_by_box.setdefault(fault.jbox_id, []).append(fault)
    scored_from = start + timing.warm_up
    scored = [e for e in episodes if e.start >= scored_from]
    tp = sum(any(matches(e, f, timing.lag, horizon) for f in targets_by_box.get(e.jbox_id, ())) for e in scored)
    early = [f for f in targets if f.start < start + timing.warm_up]
    late = [f for f in targets if f not in early and f.start + timing.for_ + timing.window + timing.interval > end]
    detectable = [f for f in targets if f not in early and f not in late]
    delays, outcomes = [], []
    for fault in detectable:
        hits = [e.start for e in by_box.get(fault.jbox_id, ()) if matches(e, fault, timing.lag, horizon)]
        delay = max(0, min(hits) - fault.start) / NS if hits else None
        if delay is not None:
            delays.append(delay)
        outcomes.append({"jbox_id": fault.jbox_id, "kind": fault.kind, "start": _iso(fault.start), "delay_s": delay})
    transients = [f for f in faults if not f.should_alert]
    transient_hits = sum(
        any(matches(e, f, timing.lag, horizon) for e in by_box.get(f.jbox_id, ()) if e.start >= scored_from)
        for f in transients
    )
    return {
        "kinds": kinds,
        "scored_episodes": len(scored),
        "true_positives": tp,
        "precision": tp / len(scored) if scored and kinds else None,
        "faults": len(targets),
        "detectable": len(detectable),
        "excluded_early": len(early),
        "excluded_late": len(late),
        "detected": len(delays),
        "recall": len(delays) / len(detectable) if detectable else None,
        "delay_s": delay_stats(delays),
        "detectable_faults": outcomes,  # one entry per detectable fault; delay_s None when missed
        "transients": len(transients),
        "transients_alerted": transient_hits,
    }


def timings(rules: Iterable[RuleReplay]) -> dict[str, Timing]:
    """Each rule's timing; a fleet rule inherits the longest warm-up of the box alerts it counts."""
    rules = list(rules)
    own = {r.key: Timing.of(r.group, r.rule) for r in rules}
    out = dict(own)
    for fleet in (r for r in rules if r.fleet):
        condition = fleet.rule.condition
        read = [
            own[r.key].warm_up
            for r in rules
            if not r.fleet
            and (not condition.alerts or r.rule.alert in condition.alerts)
            and (not condition.severity or r.rule.labels.get("severity") == condition.severity)
        ]
        out[fleet.key] = replace(own[fleet.key], inherited_warm_up=max(read, default=0))
    return out


def rule_report(
    one: RuleReplay, timing: Timing, faults: list[Fault] | None, kinds: tuple[str, ...], start: int, end: int
) -> dict:
    horizon = end + 1
    episodes = one.episodes
    report = {
        "rule": one.key,
        "alert": one.rule.alert,
        "scope": "fleet" if one.fleet else "box",
        "interval_s": timing.interval / NS,
        "for_s": timing.for_ / NS,
        "window_s": timing.window / NS,
        "warm_up_s": timing.warm_up / NS,
        "lag_s": timing.lag / NS,
        "alerts": len(episodes),
        "boxes": len({e.jbox_id for e in episodes}),
        "firing_s": sum(e.until(horizon) - e.start for e in episodes) / NS,
        "open_at_end": sum(e.end is None for e in episodes),
        "flaps": count_flaps(episodes),
        "warm_up_alerts": sum(e.start < start + timing.warm_up for e in episodes),
    }
    if faults is not None and not one.fleet:
        report.update(score_rule(episodes, faults, kinds, timing, start, end))
    return report


# -- the whole run ------------------------------------------------------------------------------


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
        "from": _iso(start),
        "to": _iso(end),
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


def run_backtest_command(args, config) -> int:
    """The CLI verb: parse and check arguments, run, print; exit 0, 1 (InfluxDB) or 2 (arguments)."""
    from rules.loader import RulesError, load_rules

    try:
        start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
        if end <= start:
            raise BacktestError(f"--to ({args.end}) must be after --from ({args.start})")
        try:
            groups = load_rules(args.rule_files)
        except RulesError as exc:
            raise BacktestError("\n".join(exc.problems)) from None
        faults = load_truth(args.truth) if args.truth is not None else None
        alerts = {r.alert for g in groups for r in g.rules}
        from simulator.faults import KINDS

        kinds = set(KINDS) | {f.kind for f in faults or ()}
        match = parse_matches(args.match, alerts, kinds)
    except BacktestError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        with InfluxClient(config.influxdb.settings()) as client:
            inventory = registry_inventory(Path(config.collector.registry))
            source = f"registry {config.collector.registry}"
            if not inventory:
                inventory, source = data_inventory(client, faults), "data (SHOW TAG VALUES) + ground truth"
            report = run_backtest(
                groups, client, start, end, faults=faults, match=match, inventory=inventory, inventory_source=source
            )
    except InfluxError as exc:
        print(f"{PROG}: InfluxDB: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else render(report))
    return 0


# -- rendering ----------------------------------------------------------------------------------


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
