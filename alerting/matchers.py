"""Label matchers as Alertmanager has them: ``=``, ``!=``, ``=~`` and ``!~`` (regexes anchored at both ends).

A missing label matches as the empty string, as in Alertmanager: ``site=""`` matches alerts without ``site``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from config.matchers import parse_matchers


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # one of =, !=, =~, !~
    value: str
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", re.compile(f"^(?:{self.value})$", re.S))

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._regex.match(value) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'

    def to_api(self) -> dict:
        """Alertmanager's v2 API shape: ``{name, value, isRegex, isEqual}``."""
        return {"name": self.name, "value": self.value, "isRegex": "~" in self.op, "isEqual": "!" not in self.op}

    @classmethod
    def from_api(cls, item: Mapping) -> Matcher:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or "value" not in item:
            raise ValueError(f"expected a matcher {{name, value, isRegex, isEqual}}, got {item!r}")
        regex, equal = bool(item.get("isRegex", False)), bool(item.get("isEqual", True))
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(regex, equal)]
        try:
            return cls(item["name"], op, str(item["value"]))
        except re.error as exc:
            raise ValueError(f"invalid regular expression {item['value']!r}: {exc}") from exc


def parse(texts: str | Iterable[str]) -> list[Matcher]:
    """Matchers from one string (``'{a="b", c=~"d"}'``) or a list of them; ValueError when malformed."""
    if isinstance(texts, str):
        texts = [texts]
    return [Matcher(name, op, value) for text in texts for name, op, value in parse_matchers(text)]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)
