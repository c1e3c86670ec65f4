"""Silences: matchers, a start and an end, who and why; optionally **recurring** inside that span
("site-007 every Tuesday 02:00-04:00 Europe/Paris": a time interval entry in Alertmanager's shape).

Kept in SQLite (``silences`` table, schema version in ``meta``); every write commits before it
returns, so a silence survives a crash. A silence is never deleted on expiry: expiring sets its end
to now, so history and ``silences list --expired`` still show it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alerting.alerts import iso, parse_time
from alerting.matchers import Matcher
from alerting.timeintervals import TimeInterval
from config.timeintervals import TimeIntervalSpec
from storage.sqlite import open_store, set_version

SCHEMA_VERSION = 1


class SilenceError(ValueError):
    """A silence is malformed or unknown; the message says which field."""


class SilenceNotFound(SilenceError):
    """No silence has this id (HTTP 404)."""


def can_update(old: Silence, new: Silence, now: float) -> bool:
    """Alertmanager's rule (``silence.canUpdate``) for changing a silence in place, keeping its id: same
    matchers (and recurrence); an active one keeps its start and may not end in the past; a pending one
    may not start in the past; an expired one is never changed. Otherwise the old one is expired and the
    change becomes a new silence with a new id."""
    if [str(m) for m in old.matchers] != [str(m) for m in new.matchers] or old.recurrence != new.recurrence:
        return False
    state = old.state(now)
    if state == "active":  # the start compared to the second, as Alertmanager compares Unix() times
        return math.floor(new.starts_at) == math.floor(old.starts_at) and new.ends_at >= now
    return state == "pending" and new.starts_at >= now


@dataclass
class Silence:
    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    recurrence: dict | None = None  # a TimeIntervalSpec as written (weekdays, times, location...)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    updated_at: float = 0.0
    _interval: TimeInterval | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.recurrence is not None:
            try:
                spec = TimeIntervalSpec.model_validate(self.recurrence)
            except ValueError as exc:
                raise SilenceError(f"recurrence: {_first_error(exc)}") from None
            self._interval = TimeInterval(self.id, [spec])

    def renewed(self, starts_at: float) -> Silence:
        """The same silence as a new one: a fresh id, this start."""
        return Silence(self.matchers, starts_at, self.ends_at, self.created_by, self.comment, self.recurrence)

    def state(self, now: float) -> str:
        if now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"

    def active(self, now: float) -> bool:
        """Silencing now: inside [start, end) and, when recurring, inside a window."""
        if self.state(now) != "active":
            return False
        return self._interval is None or self._interval.contains(now)

    def silences(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)

    def to_api(self, now: float) -> dict:
        body = {
            "id": self.id,
            "matchers": [m.to_api() for m in self.matchers],
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "updatedAt": iso(self.updated_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "status": {"state": self.state(now)},
        }
        if self.recurrence is not None:
            body["recurrence"] = self.recurrence
            body["status"]["inWindow"] = self.active(now)
        return body

    @classmethod
    def from_api(cls, body: object, now: float) -> Silence:
        """Alertmanager's ``PostableSilence``, plus an optional ``recurrence``."""
        if not isinstance(body, Mapping):
            raise SilenceError(f"expected a silence object, got {body!r}")
        matchers = body.get("matchers")
        if not isinstance(matchers, list) or not matchers:
            raise SilenceError("matchers: expected a non-empty list of {name, value, isRegex, isEqual}")
        try:
            parsed = [Matcher.from_api(item) for item in matchers]
            starts = parse_time(body["startsAt"], "startsAt") if body.get("startsAt") else now
            ends = parse_time(body.get("endsAt"), "endsAt")
        except ValueError as exc:
            raise SilenceError(str(exc)) from None
        if ends <= starts:
            raise SilenceError(f"endsAt {body.get('endsAt')!r} must be after startsAt")
        # Alertmanager's matchesEmpty: only '=' and '=~' matchers count ('!=' and '!~' never do)
        if all(m.op in ("=", "=~") and m.matches({}) for m in parsed):
            raise SilenceError("matchers: at least one matcher must not match the empty string (it would mute all)")
        for key in ("createdBy", "comment"):
            if not isinstance(body.get(key), str) or not body.get(key).strip():
                raise SilenceError(f"{key}: required, a non-empty string")
        recurrence = body.get("recurrence")
        if recurrence is not None and not isinstance(recurrence, Mapping):
            raise SilenceError(f"recurrence: expected an object like {{weekdays: [tuesday], ...}}, got {recurrence!r}")
        silence = cls(
            parsed, starts, ends, body["createdBy"], body["comment"], dict(recurrence) if recurrence else None
        )
        if isinstance(body.get("id"), str) and body["id"]:
            silence.id = body["id"]
            silence.__post_init__()
        silence.updated_at = now
        return silence


class SilenceStore:
    """Silences in SQLite with an in-memory copy for matching (the hot path reads memory only)."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = Path(path)
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._silences: dict[str, Silence] = {}

    def open(self) -> SilenceStore:
        self._db, _ = open_store(self.path, what="silences", schema_version=SCHEMA_VERSION)
        set_version(self._db, SCHEMA_VERSION)
        self._db.execute("CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        for (body,) in self._db.execute("SELECT body FROM silences"):
            silence = _decode(json.loads(body))
            self._silences[silence.id] = silence
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def put(self, silence: Silence) -> Silence:
        """Create, or replace a silence by id (Alertmanager's update)."""
        with self._lock:
            silence.updated_at = self.clock()
            self._db.execute(
                "INSERT OR REPLACE INTO silences VALUES (?, ?)", (silence.id, json.dumps(_encode(silence)))
            )
            self._silences[silence.id] = silence
        return silence

    def get(self, silence_id: str) -> Silence:
        try:
            return self._silences[silence_id]
        except KeyError:
            raise SilenceNotFound(f"no silence with id {silence_id!r}") from None

    def expire(self, silence_id: str) -> Silence:
        silence = self.get(silence_id)
        now = self.clock()
        if silence.state(now) == "expired":
            return silence
        silence.ends_at = now
        silence.starts_at = min(silence.starts_at, now)
        return self.put(silence)

    def prune(self, before: float) -> int:
        """Forget silences that ended before ``before`` (kept until then for ``list --all`` and history)."""
        with self._lock:
            old = [s.id for s in self._silences.values() if s.ends_at < before]
            for silence_id in old:
                self._db.execute("DELETE FROM silences WHERE id=?", (silence_id,))
                del self._silences[silence_id]
        return len(old)

    def list(self) -> list[Silence]:
        return sorted(self._silences.values(), key=lambda s: (s.starts_at, s.id))

    def silenced_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [s.id for s in list(self._silences.values()) if s.silences(labels, now)]

    def next_change(self, now: float) -> float | None:
        """When a silence next starts or ends (recurring windows aside), or None."""
        times = (t for s in list(self._silences.values()) for t in (s.starts_at, s.ends_at) if t > now)
        return min(times, default=None)

    def any_active(self, now: float) -> bool:
        return any(s.active(now) for s in list(self._silences.values()))


def _encode(silence: Silence) -> dict:
    return {
        "id": silence.id,
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "comment": silence.comment,
        "recurrence": silence.recurrence,
        "updated_at": silence.updated_at,
    }


def _decode(body: dict) -> Silence:
    from alerting.matchers import parse

    return Silence(
        matchers=parse(body["matchers"]),
        starts_at=body["starts_at"],
        ends_at=body["ends_at"],
        created_by=body["created_by"],
        comment=body["comment"],
        recurrence=body.get("recurrence"),
        id=body["id"],
        updated_at=body.get("updated_at", 0.0),
    )


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"
    return str(exc)
