"""Ground truth from the simulator, and which alert detects which fault kind."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

NS = 1_000_000_000
# Which ground-truth fault kinds each shipped alert detects; --match overrides or extends this.
# ``kind[key=value]`` also requires a detail of the event (the direction of a SoC drift).
DEFAULT_MATCH: dict[str, tuple[str, ...]] = {
    "SetpointNotFollowed": ("power_stuck", "setpoint_not_followed"),
    "OverheatWarning": ("overheat",),
    "OverheatCritical": ("overheat",),
    "SoCLow": ("soc_drift[direction=low]",),
    "SoCHigh": ("soc_drift[direction=high]",),
    "SoCEstimateDrift": ("soc_drift",),
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
    peak: float | None = None  # the worst value while firing

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


def matches(episode: Episode, fault: Fault, lag: int, horizon: int) -> bool:
    """The episode (on the fault's box) overlaps ``[fault.start, fault.end + lag)``."""
    return episode.jbox_id == fault.jbox_id and episode.start < fault.end + lag and episode.until(horizon) > fault.start


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
