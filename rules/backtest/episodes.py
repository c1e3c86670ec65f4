"""Every episode of a backtest, one row each: which box, which rule, when, how bad, and why.

``match`` says what the episode was, against the ground truth:

- ``KIND@START`` (e.g. ``power_stuck@2026-11-29T12:04:10Z``): the should-alert fault it matched;
- ``false alarm``: it matched no should-alert fault of a kind the alert detects;
- ``warm-up``: it started before T1 + the rule's warm-up (not scored, see the report legend);
- ``fleet``: a fleet-wide alert (not scored); ``unscored``: the alert detects no known kind;
- empty without ground truth.
"""

from __future__ import annotations

import csv
import io

from rules.backtest.replay import RuleReplay, Timing
from rules.backtest.truth import Episode, Fault, iso, matches

COLUMNS = ("rule", "alert", "jbox_id", "start", "end", "duration_s", "peak", "match")


def episode_rows(
    one: RuleReplay, timing: Timing, faults: list[Fault] | None, kinds: tuple[str, ...], start: int, end: int
) -> list[dict]:
    horizon = end + 1
    targets = [f for f in faults or () if f.should_alert and any(f.is_a(k) for k in kinds)]
    rows = []
    for episode in sorted(one.episodes, key=lambda e: (e.start, e.jbox_id)):
        rows.append(
            {
                "rule": one.key,
                "alert": one.rule.alert,
                "jbox_id": episode.jbox_id,
                "start": iso(episode.start),
                "end": iso(episode.end) if episode.end is not None else None,  # None: still firing at T2
                "duration_s": (episode.until(horizon) - episode.start) / 1e9,
                "peak": None if episode.peak is None else round(float(episode.peak), 3),
                "match": _match(one, episode, timing, faults, targets, kinds, start, horizon),
            }
        )
    return rows


def _match(one, episode: Episode, timing: Timing, faults, targets, kinds, start: int, horizon: int) -> str:
    if faults is None:
        return ""
    if one.fleet:
        return "fleet"
    if episode.start < start + timing.warm_up:
        return "warm-up"
    if not kinds:
        return "unscored"
    hit = next((f for f in targets if matches(episode, f, timing.lag, horizon)), None)
    return f"{hit.kind}@{iso(hit.start)}" if hit is not None else "false alarm"


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row[key] is None else row[key] for key in COLUMNS})
    return out.getvalue()


def to_text(rows: list[dict]) -> list[str]:
    """A fixed-width listing, one line per episode."""
    if not rows:
        return ["episodes: none"]
    lines = [f"episodes ({len(rows)}):"]
    head = f"  {'rule':<28} {'box':<16} {'start':<20} {'end':<20} {'peak':>10}  match"
    lines += [head, "  " + "-" * (len(head) - 2)]
    for row in rows:
        peak = "-" if row["peak"] is None else f"{row['peak']:g}"
        lines.append(
            f"  {row['rule']:<28} {row['jbox_id'] or '(fleet)':<16} {row['start']:<20} "
            f"{row['end'] or '(open)':<20} {peak:>10}  {row['match'] or '-'}"
        )
    return lines
