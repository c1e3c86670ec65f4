"""Which alerts were firing on which boxes at a given evaluation time.

Rules that read alert states (``fleet_ratio``) are evaluated after the data rules, possibly long
after: a backtest evaluates the data rules an hour ahead, a unit test up to its checkpoint. So they
do not read the *current* states but the firing intervals recorded from the transitions, asked at
their own evaluation time. Live, that time is now and the answer is the current states.

An interval is ``[fired_at, resolved_at)``: an alert resolved at ``t`` no longer counts at ``t``.
"""

from __future__ import annotations

from rules.state import AlertState, Transition


class AlertTimeline:
    """Firing intervals per alert name and box, fed by the state machine's transitions."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], int] = {}  # (alert, box) -> fired at
        self._closed: list[tuple[str, str, int, int]] = []  # (alert, box, fired at, resolved at)

    def seed(self, alert: str, states: dict[str, AlertState]) -> None:
        """Alerts already firing when evaluation (re)starts: restored state, a reload."""
        for key, state in states.items():
            if state.state == "firing":
                self._open[(alert, key)] = state.fired_at or state.active_since

    def record(self, alert: str, transition: Transition) -> None:
        if transition.to == "firing":
            self._open[(alert, transition.key)] = transition.at
        elif transition.to == "resolved":
            fired = self._open.pop((alert, transition.key), None)
            if fired is not None:
                self._closed.append((alert, transition.key, fired, transition.at))

    def firing_at(self, t: int, alerts: set[str] = frozenset()) -> dict[str, set[str]]:
        """Alert name -> boxes firing at ``t``; every name of ``alerts`` is present (maybe empty)."""
        firing: dict[str, set[str]] = {name: set() for name in alerts}
        for (alert, key), fired in self._open.items():
            if fired <= t:
                firing.setdefault(alert, set()).add(key)
        for alert, key, fired, resolved in self._closed:
            if fired <= t < resolved:
                firing.setdefault(alert, set()).add(key)
        return firing

    def forget_before(self, t: int) -> None:
        """Drop intervals that ended at or before ``t``: no evaluation will ask about them (bounded memory)."""
        self._closed = [item for item in self._closed if item[3] > t]
