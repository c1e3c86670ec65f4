"""Input series of rule unit tests: ``[policy:]measurement.field{tag="value"}`` and promtool's values.

Selector: the retention policy is optional (``logs:log.code{jbox_id="jbox-0001"}`` writes into the
``logs`` policy, where log lines live; without it the database's default policy is used). The field
is the part after the last dot, so a measurement name may contain dots.

Values, promtool's expanding notation, terms separated by spaces:

==============  ====================================================  ==========================
``a+bxN``       a, then N further values incrementing by b              ``1+2x3`` -> 1 3 5 7
``a-bxN``       a, then N further values decrementing by b              ``10-2x2`` -> 10 8 6
``axN``         a, N+1 times (``a+0xN``)                                ``5x2`` -> 5 5 5
``a``           one value                                               ``42``
``_`` / ``_xN`` one / N missing samples (nothing written at that slot)  ``1 _x2 4`` -> 1 _ _ 4
``"s"xN``       a string, N+1 times (string fields such as log codes)   ``"E1"x2`` -> E1 E1 E1
==============  ====================================================  ==========================

Numbers are written as floats. One series holds numbers or strings, not both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_SAMPLES = 1_000_000  # per series: a typo such as '1x1000000000' must not eat the memory

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNSIGNED = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_EXPANDING = re.compile(rf"^(?P<a>{_NUMBER})(?:(?P<sign>[+-])(?P<b>{_UNSIGNED}))?(?:x(?P<n>\d+))?$")
_STRING = re.compile(r'^"(?P<s>(?:[^"\\]|\\.)*)"(?:x(?P<n>\d+))?$')
_GAP = re.compile(r"^_(?:x(?P<n>\d+))?$")
_TERM = re.compile(r'"(?:[^"\\]|\\.)*"(?:x\d+)?|\S+')
_SELECTOR = re.compile(
    r"^(?:(?P<rp>[A-Za-z0-9_-]+):)?(?P<measurement>[^\s{:][^\s{]*)\.(?P<field>[^\s.{]+)(?:\{(?P<tags>.*)\})?$"
)
_TAG = re.compile(r'\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = re.compile(r"\\(.)")

Value = float | str | None  # None: no sample at that slot

HELP = "'a+bxN', 'a-bxN', 'axN', a number, '_', '_xN' or a quoted string like '\"E1\"x10'"


@dataclass(frozen=True)
class Selector:
    """Where an input series is written: retention policy (None = default), measurement, field, tags."""

    measurement: str
    field: str
    tags: tuple[tuple[str, str], ...] = ()
    retention_policy: str | None = None

    @property
    def jbox_id(self) -> str | None:
        return dict(self.tags).get("jbox_id")


def parse_selector(text: str) -> Selector:
    """``logs:log.code{jbox_id="jbox-0001", level="error"}`` -> Selector; ValueError quoting the text."""
    match = _SELECTOR.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            "expected a series like 'telemetry.p_meas_kw{jbox_id=\"jbox-0001\"}' "
            f"(optionally 'policy:measurement.field{{...}}'), got {text!r}"
        )
    tags = _parse_tags(match["tags"] or "", text)
    return Selector(match["measurement"], match["field"], tags, match["rp"])


def _parse_tags(body: str, text: str) -> tuple[tuple[str, str], ...]:
    tags: dict[str, str] = {}
    position = 0
    while body[position:].strip():
        match = _TAG.match(body, position)
        if match is None:
            raise ValueError(f'expected tags like {{jbox_id="jbox-0001", level="error"}}, got {text!r}')
        key = match["key"]
        if key in tags:
            raise ValueError(f"tag {key!r} is given twice in {text!r}")
        tags[key] = _UNESCAPE.sub(r"\1", match["value"])
        position = match.end()
    return tuple(sorted(tags.items()))


def parse_values(text: str | int | float) -> list[Value]:
    """Expand promtool's notation: ``'1+2x3 _ "E1"'`` is an error (numbers and strings mixed),
    ``'1+2x3 _'`` -> ``[1.0, 3.0, 5.0, 7.0, None]``. Raises ValueError naming the bad term."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected values in promtool's notation ({HELP}), got {text!r}")
    values: list[Value] = []
    terms = _TERM.findall(str(text))
    for position, term in enumerate(terms, start=1):
        values += _expand(term, position, text)
        if len(values) > MAX_SAMPLES:
            raise ValueError(f"more than {MAX_SAMPLES} samples in {text!r}: shorten the test")
    kinds = {type(value) for value in values if value is not None}
    if len(kinds) > 1:
        raise ValueError(f"a series holds numbers or strings, not both, got {text!r}")
    return values


def _expand(term: str, position: int, text: str | int | float) -> list[Value]:
    if gap := _GAP.match(term):
        return [None] * (int(gap["n"]) if gap["n"] else 1)
    if string := _STRING.match(term):
        return [_UNESCAPE.sub(r"\1", string["s"])] * (int(string["n"] or 0) + 1)
    match = _EXPANDING.match(term)
    if match is None or (match["sign"] and match["n"] is None):
        raise ValueError(f"term {position} {term!r} of {str(text)!r}: expected {HELP}")
    start, count = float(match["a"]), int(match["n"] or 0)
    step = float(match["b"] or 0) * (-1 if match["sign"] == "-" else 1)
    if count > MAX_SAMPLES:
        raise ValueError(f"term {position} {term!r}: more than {MAX_SAMPLES} samples")
    values = [start + i * step for i in range(count + 1)]
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"term {position} {term!r}: InfluxDB stores finite numbers only")
    return values
