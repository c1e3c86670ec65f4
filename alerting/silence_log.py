"""Silences in the alert history: created, updated, expired (by hand, or by reaching their end).

Each event carries the silence's id, matchers, author, comment and end; its ``alertname`` and
``jbox_id`` columns hold the values of equality matchers on those labels, so ``alerts history --box``
shows the silences put on that box.
"""

from __future__ import annotations

from alerting.alerts import iso
from alerting.history import Event
from alerting.silences import Silence, SilenceStore

CHECK_EVERY_S = 1.0


def silence_event(silence: Silence, state: str, now: float, by: str = "") -> Event:
    equal = {m.name: m.value for m in silence.matchers if m.op == "="}
    detail = {
        "silence": silence.id,
        "matchers": [str(m) for m in silence.matchers],
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "startsAt": iso(silence.starts_at),
        "endsAt": iso(silence.ends_at),
    }
    if by:
        detail["by"] = by
    return Event(now, "silence", state, equal.get("alertname", ""), equal.get("jbox_id", ""), detail=detail)


class SilenceLog:
    """``expiries(now)``: events for silences that reached their end since the last call (each once)."""

    def __init__(self, silences: SilenceStore, now: float) -> None:
        self.silences = silences
        self._checked = now
        self._told: set[str] = set()  # expired by hand (already told), until their end is behind the check

    def expired_by_hand(self, silence: Silence, now: float) -> Event:
        self._told.add(silence.id)
        return silence_event(silence, "expired", now, by="expire")

    def expiries(self, now: float) -> list[Event]:
        if now - self._checked < CHECK_EVERY_S:
            return []
        since, self._checked = self._checked, now
        events = []
        for silence in self.silences.list():
            if since < silence.ends_at <= now:
                if silence.id in self._told:
                    self._told.discard(silence.id)
                else:
                    events.append(silence_event(silence, "expired", silence.ends_at))
        return events
