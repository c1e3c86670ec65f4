"""Alertmanager's v2 API query semantics, kept apart from the HTTP handlers.

- ``AlertFilter``: ``GET /api/v2/alerts`` and ``/alerts/groups`` parameters: ``filter`` (matchers,
  repeatable), ``receiver`` (a regex anchored at both ends), ``active``, ``silenced``, ``inhibited``
  (each ``true`` unless ``false``; an alert is dropped when it has a state whose flag is false).
- ``alertmanager_silence_order``: ``GET /api/v2/silences`` lists active silences first (ending soonest
  first), then pending (starting soonest first), then expired (ended most recently first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from alerting.matchers import matches_all, parse
from alerting.silences import Silence

_STATE_RANK = {"active": 0, "pending": 1, "expired": 2}


class AlertFilter:
    """Built from the query parameters (ValueError when a matcher or regex is malformed); called on views."""

    def __init__(self, params: Mapping) -> None:
        self.matchers = parse(params.getlist("filter"))
        self.wanted = {key: params.get(key, "true").lower() != "false" for key in ("active", "silenced", "inhibited")}
        receiver = params.get("receiver")
        try:
            self.receiver = re.compile(f"^(?:{receiver})$") if receiver else None
        except re.error as exc:
            raise ValueError(f"receiver: invalid regular expression {receiver!r}: {exc}") from None

    def __call__(self, view: dict) -> bool:
        status = view["status"]
        if status["state"] == "active" and not self.wanted["active"]:
            return False
        if (status["silencedBy"] and not self.wanted["silenced"]) or (
            status["inhibitedBy"] and not self.wanted["inhibited"]
        ):
            return False
        if self.receiver is not None and not any(self.receiver.match(r["name"]) for r in view["receivers"]):
            return False
        return matches_all(self.matchers, view["labels"])


def alertmanager_silence_order(silences: Iterable[Silence], now: float) -> list[Silence]:
    def key(silence: Silence) -> tuple[int, float]:
        state = silence.state(now)
        when = {"active": silence.ends_at, "pending": silence.starts_at, "expired": -silence.ends_at}[state]
        return _STATE_RANK[state], when

    return sorted(silences, key=key)
