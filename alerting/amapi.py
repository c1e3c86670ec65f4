"""Alertmanager's v2 API query semantics, kept apart from the HTTP handlers.

- ``AlertFilter``: ``GET /api/v2/alerts`` and ``/alerts/groups`` parameters: ``filter`` (matchers,
  repeatable), ``receiver`` (a regex anchored at both ends), ``active``, ``silenced``, ``inhibited``
  (each ``true`` unless ``false``; an alert is dropped when it has a state whose flag is false).
- ``alertmanager_silence_order``: ``GET /api/v2/silences`` lists active silences first (ending soonest
  first), then pending (starting soonest first), then expired (ended most recently first).
- ``alertmanager_status``: ``GET /api/v2/status`` in Alertmanager's shape; ``config.original`` is the
  routing design only (route, inhibit rules, time intervals, receiver names): no receiver settings, so
  no secret can leak through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import yaml

from alerting.alerts import iso
from alerting.matchers import matches_all, parse
from alerting.silences import Silence
from config.alerting import AlertingConfig

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


def alertmanager_status(config: AlertingConfig, started_at: float) -> dict:
    design = {
        "route": _durations(config.route.model_dump(mode="json", by_alias=True, exclude_defaults=True)),
        "inhibit_rules": [rule.model_dump(mode="json", exclude_defaults=True) for rule in config.inhibit_rules],
        "time_intervals": [t.model_dump(mode="json", exclude_defaults=True) for t in config.all_time_intervals()],
        "receivers": [{"name": r.name} for r in config.receivers],
    }
    return {
        "cluster": {"name": "", "status": "disabled", "peers": []},
        "config": {
            "original": yaml.safe_dump(design, sort_keys=False),
            "receivers": [r.name for r in config.receivers],
        },
        "uptime": iso(started_at),
        "versionInfo": {
            "version": _version(),
            "branch": "",
            "revision": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },  # fmt: skip
    }


def _durations(route: dict) -> dict:
    """Route timers as Alertmanager writes them (``30s``, ``5m``, ``4h``), children too."""
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if isinstance(route.get(key), int | float):
            route[key] = _go_duration(route[key])
    if route.get("routes"):
        route["routes"] = [_durations(child) for child in route["routes"]]
    return route


def _go_duration(seconds: float) -> str:
    millis = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"jboxmon-{version('jboxmon')}"
    except PackageNotFoundError:
        return "jboxmon"
