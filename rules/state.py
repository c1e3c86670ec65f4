"""The alert state machine: inactive -> pending -> firing -> resolved, per rule and box.

Time is the evaluation time (ns since the epoch), passed in: the same code runs live, in
``rules test`` and in backtests. A box with no data in an evaluation keeps its state ("no data"
is not "healthy"), and a failed query changes nothing: an InfluxDB outage resolves no alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["pending", "firing"]


@dataclass
class AlertState:
    key: str  # jbox_id, or "" for a fleet-wide alert
    state: State
    active_since: int
    fired_at: int | None = None
    last_active: int = 0
    value: float | None = None
    cleared_since: int | None = None  # first evaluation with the condition off while firing
    peak: float | None = None  # the worst value while firing (not persisted: backtests report it)


@dataclass(frozen=True)
class Transition:
    key: str
    to: Literal["pending", "firing", "resolved", "inactive"]
    at: int
    state: AlertState


class RuleStates:
    """The states of one rule's alerts, keyed by box."""

    def __init__(self, for_s: float, keep_firing_for_s: float, has_clear: bool, lower_is_worse: bool = False) -> None:
        self.for_ns = int(for_s * 1e9)
        self._worst = min if lower_is_worse else max
        self.keep_ns = int(keep_firing_for_s * 1e9)
        self.has_clear = has_clear
        self.alerts: dict[str, AlertState] = {}

    def step(self, t: int, results: dict[str, tuple]) -> list[Transition]:
        """Advance to evaluation time ``t``; ``results``: key -> (value, active, clear holds[, since]).

        Keys absent from ``results`` had no data: their state is left as it is. ``since`` (ns, or
        None) dates a condition the data shows began before ``t`` (a frozen reading): a new
        pending alert's ``for`` timer starts there.
        """
        transitions = []
        for key, (value, active, clear, *rest) in results.items():
            current = self.alerts.get(key)
            if current is None:
                if active:
                    since = rest[0] if rest and rest[0] is not None else t
                    current = self.alerts[key] = AlertState(
                        key, "pending", min(t, int(since)), last_active=t, value=value
                    )
                    transitions.append(Transition(key, "pending", t, current))
                    transitions += self._maybe_fire(current, t)
                continue
            current.value = value
            if current.state == "firing" and value is not None and value == value:  # not NaN
                current.peak = value if current.peak is None else self._worst(current.peak, value)
            if current.state == "pending":
                if active:
                    current.last_active = t
                    transitions += self._maybe_fire(current, t)
                else:
                    del self.alerts[key]
                    transitions.append(Transition(key, "inactive", t, current))
                continue
            # firing: with a clear condition, only it resolves (hysteresis); otherwise the
            # condition must stay false for keep_firing_for
            # (counted from the first evaluation that found it off, as Prometheus does)
            still_on = not clear if self.has_clear else active
            if still_on:
                current.last_active = t
                current.cleared_since = None
                continue
            if current.cleared_since is None:
                current.cleared_since = t
            if t - current.cleared_since >= self.keep_ns:
                del self.alerts[key]
                transitions.append(Transition(key, "resolved", t, current))
        return transitions

    def _maybe_fire(self, current: AlertState, t: int) -> list[Transition]:
        if current.state == "pending" and t - current.active_since >= self.for_ns:
            current.state = "firing"
            current.fired_at = t
            current.peak = current.value
            return [Transition(current.key, "firing", t, current)]
        return []

    def firing(self) -> set[str]:
        return {key for key, alert in self.alerts.items() if alert.state == "firing"}
