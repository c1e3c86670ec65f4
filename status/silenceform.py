"""``GET /silences/new?matcher=...``: where notification links and the box view send someone who wants
to silence an alert, prefilled with Alertmanager-syntax matchers (``jbox_id="jbox-0042"``).

This page only prefills and shows how to create the silence (``jboxmon silences add`` and amtool
against the alerting service): this page changes nothing, since creating a silence needs an
operator's credential and the page has no sign-in. The link shape is what notifications rely on
(alerting/links.py writes it); a form that creates the silence after sign-in can replace this page
under the same URL.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from urllib.parse import urlencode

MAX_MATCHERS = 20
MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


def silence_link(labels: Mapping[str, str], keys: tuple[str, ...] = ("alertname", "jbox_id")) -> str:
    """The prefilled form for ``keys`` of ``labels`` (the same shape as alerting/links.py writes)."""
    pairs = [(k, labels[k]) for k in keys if labels.get(k)]
    escaped = [(k, v.replace("\\", "\\\\").replace('"', '\\"')) for k, v in pairs]
    return "/silences/new?" + urlencode([("matcher", f'{k}="{v}"') for k, v in escaped])


def prefill(given: list[str]) -> tuple[list[str], list[str]]:
    """``(matchers, problems)``: the well-formed matchers of the query, and why others were dropped."""
    matchers, problems = [], []
    for text in given[:MAX_MATCHERS]:
        if MATCHER.match(text):
            matchers.append(text.strip())
        else:
            problems.append(f"not a matcher like name=\"value\": {text[:200]!r}")
    if len(given) > MAX_MATCHERS:
        problems.append(f"only the first {MAX_MATCHERS} matchers are kept")
    return matchers, problems


def equalities(matchers: list[str]) -> list[tuple[str, str]] | None:
    """``[(name, value)]`` when every matcher is an equality (what the sign-in silence form takes), else None."""
    pairs = []
    for text in matchers:
        found = MATCHER.match(text)
        if found is None or found.group(2) != "=":
            return None
        pairs.append((found.group(1), re.sub(r"\\(.)", r"\1", found.group(3))))
    return pairs


def commands(matchers: list[str], alerting_url: str) -> dict[str, str]:
    """How to create this silence today, from a shell."""
    quoted = " ".join(shlex.quote(m) for m in matchers)
    return {
        "jboxmon": f"jboxmon silences add {quoted} --duration 2h --comment 'why'",
        "amtool": f"amtool silence add --alertmanager.url={alerting_url} --duration=2h --comment='why' {quoted}",
    }
