"""Alerts as the pipeline holds them, decoded from Alertmanager's ``POST /api/v2/alerts`` items.

Times are float seconds since the epoch (UTC). The fingerprint is Alertmanager's hash of the sorted
labels (``alerting.identity``), so the same alert sent by two producers (or again at every evaluation)
is one alert here, with the fingerprint Alertmanager would show for it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from alerting.identity import fingerprint, fingerprints

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert in webhook payloads
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_LABELS = 64
MAX_VALUE_CHARS = 4096


class AlertFormatError(ValueError):
    """An item of ``POST /api/v2/alerts`` is malformed; the message says which item and why."""


@dataclass
class StoredAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float  # in the future while firing (resolve_timeout when the producer sent none)
    updated_at: float
    generator_url: str = ""
    fingerprint: str = ""
    ends_given: bool = False
    suppressed_by: dict[str, list[str]] = field(default_factory=dict)  # silencedBy / inhibitedBy

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def resolved(self, now: float) -> bool:
        return self.ends_at <= now

    def payload(self, now: float) -> dict:
        """One item of a webhook v4 ``alerts`` list."""
        resolved = self.resolved(now)
        return {
            "status": "resolved" if resolved else "firing",
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at) if resolved else ZERO_TIME,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    def merge(self, newer: StoredAlert) -> None:
        """Take a re-sent alert as Alertmanager's store does (``provider/mem`` ``Put``, ``types.Alert.Merge``).

        When the two activity ranges overlap they are one episode: the earliest start wins; a resolution
        takes its end (the latest of two resolutions); a firing update keeps an explicit end that is later
        than its own resolve timeout. Otherwise the newer alert replaces the held one (a new episode).
        """
        now = newer.updated_at
        overlaps = self.starts_at < newer.ends_at < self.ends_at or self.starts_at < newer.starts_at < self.ends_at
        if overlaps:
            starts, ends = min(self.starts_at, newer.starts_at), newer.ends_at
            if newer.resolved(now):
                if self.resolved(now) and self.ends_at > newer.ends_at:
                    ends = self.ends_at
            elif self.ends_at > newer.ends_at and self.ends_given:
                ends = self.ends_at
            newer.starts_at, newer.ends_at = starts, ends
        self.starts_at = newer.starts_at
        self.ends_at = newer.ends_at
        self.ends_given = newer.ends_given
        self.updated_at = newer.updated_at
        self.annotations = newer.annotations
        self.generator_url = newer.generator_url


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object, what: str) -> float:
    if not isinstance(value, str):
        raise AlertFormatError(f"{what}: expected an RFC 3339 time, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise AlertFormatError(f"{what}: expected an RFC 3339 time, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if parsed.year <= 1:
        return 0.0  # Alertmanager's zero time: not set
    return parsed.timestamp()


def _string_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AlertFormatError(f"{what}: expected an object of strings, got {value!r}")
    if len(value) > MAX_LABELS:
        raise AlertFormatError(f"{what}: more than {MAX_LABELS} entries")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str) or len(item) > MAX_VALUE_CHARS:
            raise AlertFormatError(f"{what}.{key}: expected a string of at most {MAX_VALUE_CHARS} chars, got {item!r}")
        out[key] = item
    return out


def from_api_batch(items: list, now: float, resolve_timeout: float) -> tuple[list[StoredAlert], list[str]]:
    """The good items of a ``POST /api/v2/alerts`` body, fingerprinted in one pass (a fleet-wide outage
    posts 10,000 at once), and what is wrong with each bad one (Alertmanager keeps the good ones too)."""
    fields, errors = [], []
    for index, item in enumerate(items):
        try:
            fields.append(_decode(item, index, now, resolve_timeout))
        except AlertFormatError as exc:
            errors.append(str(exc))
    values = fingerprints([f["labels"] for f in fields])
    return [StoredAlert(**f, fingerprint=value) for f, value in zip(fields, values, strict=True)], errors


def from_api(item: object, index: int, now: float, resolve_timeout: float) -> StoredAlert:
    """One posted item (see ``_decode``)."""
    return StoredAlert(**_decode(item, index, now, resolve_timeout))


def _decode(item: object, index: int, now: float, resolve_timeout: float) -> dict:
    """Decode one posted item as Alertmanager's API does: no ``startsAt`` means now, or the ``endsAt``
    when only that is given (a resolution); no ``endsAt`` means firing until ``resolve_timeout`` after
    this update (producers re-send firing alerts)."""
    where = f"alerts[{index}]"
    if not isinstance(item, Mapping):
        raise AlertFormatError(f"{where}: expected an object, got {item!r}")
    labels = {k: v for k, v in _string_map(item.get("labels"), f"{where}.labels").items() if v != ""}
    for name in labels:
        if not LABEL_NAME.match(name):  # Alertmanager's LabelSet.Validate (annotation names are left free)
            raise AlertFormatError(f"{where}.labels: invalid label name {name!r} (letters, digits and '_', "
                                   "not starting with a digit)")  # fmt: skip
    if not labels:
        raise AlertFormatError(f"{where}.labels: an alert needs at least one label")
    annotations = _string_map(item.get("annotations"), f"{where}.annotations")
    starts = parse_time(item["startsAt"], f"{where}.startsAt") if item.get("startsAt") else 0.0
    ends = parse_time(item["endsAt"], f"{where}.endsAt") if item.get("endsAt") else 0.0
    starts = starts or ends or now
    if ends and ends < starts:
        raise AlertFormatError(f"{where}: endsAt {iso(ends)} is before startsAt {iso(starts)}")
    url = item.get("generatorURL") or ""
    if not isinstance(url, str):
        raise AlertFormatError(f"{where}.generatorURL: expected a string, got {url!r}")
    return {
        "labels": labels,
        "annotations": annotations,
        "starts_at": starts,
        "ends_at": ends or now + resolve_timeout,
        "updated_at": now,
        "generator_url": url,
        "ends_given": bool(ends),
    }
