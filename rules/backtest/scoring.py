"""Score a rule's episodes against the ground truth: precision, recall, delay, flaps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from rules.backtest.replay import RuleReplay, Timing
from rules.backtest.truth import NS, Episode, Fault, iso, matches

FLAP_GAP_S = 600


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
        outcomes.append({"jbox_id": fault.jbox_id, "kind": fault.kind, "start": iso(fault.start), "delay_s": delay})
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
    """Each rule's timing; a rule reading alert states inherits the longest warm-up of the box alerts it counts."""
    rules = list(rules)
    own = {r.key: Timing.of(r.group, r.rule) for r in rules}
    out = dict(own)
    for fleet in (r for r in rules if r.fleet):
        condition = fleet.rule.condition
        read = [own[r.key].warm_up for r in rules if not r.fleet and condition.reads_alert(r.rule.alert, r.rule.labels)]
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
