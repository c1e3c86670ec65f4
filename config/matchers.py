"""Alertmanager's matcher syntax, parsed: ``name="value"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"``.

Only the syntax lives here (the config validates with it); ``alerting.matchers`` does the matching.
Values may be quoted (with ``\\"``, ``\\\\`` and ``\\n`` escapes) or bare; one string may hold several
matchers separated by commas, optionally inside braces: ``{site="s1", severity=~"warn|crit"}``.
"""

from __future__ import annotations

import re

OPERATORS = ("=~", "!~", "!=", "=")
_NAME = r'[A-Za-z_:][A-Za-z0-9_:]*|"(?:[^"\\]|\\.)*"'
_VALUE = r'"(?:[^"\\]|\\.)*"|[^,}"\s=~!][^,}"]*|'
_ONE = re.compile(rf"\s*({_NAME})\s*(=~|!~|!=|=)\s*({_VALUE})\s*")
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text[1:-1])
    return text


def parse_matchers(text: str) -> list[tuple[str, str, str]]:
    """``(name, operator, value)`` for each matcher in ``text``; ValueError quoting the text otherwise.

    >>> parse_matchers('{site="s1", severity=~"warn|crit"}')
    [('site', '=', 's1'), ('severity', '=~', 'warn|crit')]
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a matcher like 'severity=\"critical\"', got {text!r}")
    body = text.strip()
    if body.startswith("{") or body.endswith("}"):
        if not (body.startswith("{") and body.endswith("}")):
            raise ValueError(f"unbalanced braces in matcher {text!r}")
        body = body[1:-1]
    found: list[tuple[str, str, str]] = []
    pos = 0
    while pos < len(body) and body[pos:].strip():
        match = _ONE.match(body, pos)
        if match is None:
            raise ValueError(f"expected a matcher like 'severity=\"critical\"' (operators =, !=, =~, !~), got {text!r}")
        name, op, value = _unquote(match.group(1)), match.group(2), _unquote(match.group(3))
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression in matcher {text!r}: {exc}") from exc
        found.append((name, op, value))
        pos = match.end()
        if pos < len(body):
            if body[pos] != ",":
                raise ValueError(f"expected ',' between matchers, got {text!r}")
            pos += 1
    if not found:
        raise ValueError(f"expected at least one matcher, got {text!r}")
    return found
