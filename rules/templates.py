"""Annotation templates: Jinja2 in a sandbox, bounded in time and size, so ops can edit them
without running code and without hanging the service.

Available names: ``labels`` (dict), ``value`` (float or None), ``alert`` (name), ``box`` (site,
region, service of the box, when the alert is about one). Undefined names are errors, found when
the rule file is checked, not at 3 a.m. when the alert fires.

Bounds. The sandbox stops attribute tricks, not work: ``{{ range(100000000) }}`` or two nested
``range(99999)`` loops would run for hours. So a render

- may take at most ``MAX_SECONDS`` (a trace function on the rendering thread checks the clock
  on every line of the compiled template and every call it makes, so even a loop without
  output stops);
- may produce at most ``MAX_CHARS`` characters, and build no string or list longer than that on
  the way (``*`` and ``**`` are checked before they run, as are integer arguments of filters and
  string methods, so ``"x" * 10**9`` never allocates);
- may iterate ``range`` over at most ``MAX_ITEMS`` items.

A template breaking a bound fails its trial render when the rule file is loaded (``rules check``,
start, reload: the error names the rule and the annotation); at alert time the annotation reads
``(template error: ...)`` instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SECONDS = 0.5
MAX_CHARS = 16_384
MAX_ITEMS = 10_000


class _SampleVersions(dict):
    """``payload_versions`` at check time: any version number has sample dates (the real ones come
    from collector.payload_versions when the rules run)."""

    def __missing__(self, number: object) -> dict[str, str]:
        return {"name": f"v{number}", "deprecated_since": "2026-01-01", "sunset": "2026-07-01"}


SAMPLE_CONTEXT = {
    "labels": {"jbox_id": "jbox-0001", "severity": "critical", "alertname": "Sample"},
    "value": 123.4,
    "alert": "Sample",
    "box": {"site": "site-001", "region": "IDF", "service": "fcr"},
    "payload_versions": _SampleVersions(),
}


class TemplateProblem(ValueError):
    pass


class TemplateLimit(Exception):
    """A render went beyond a bound (time, size, items)."""


def _too_big(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CHARS


def _bounded_range(*args: int) -> Iterator[int]:
    items = range(*args)
    if len(items) > MAX_ITEMS:
        raise TemplateLimit(f"range of {len(items):,} items (at most {MAX_ITEMS:,})")
    return iter(items)


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and (_too_big(right) or (isinstance(right, int | float) and right > 64)):
            raise TemplateLimit(f"{left!r} ** {right!r} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_CHARS:
                    raise TemplateLimit(f"a sequence of {len(seq) * times:,} items (at most {MAX_CHARS:,})")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        if isinstance(getattr(__obj, "__self__", None), str) and any(map(_too_big, (*args, *kwargs.values()))):
            raise TemplateLimit(f"string method {__obj.__name__} with a size above {MAX_CHARS:,}")
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_filter(function):
    # the arguments after the filtered value (and after the environment or context, for filters
    # Jinja passes one to): the value itself may be any number
    skip = 2 if hasattr(function, "jinja_pass_arg") else 1

    def bounded(*args, **kwargs):
        if any(map(_too_big, (*args[skip:], *kwargs.values()))):
            raise TemplateLimit(f"filter argument above {MAX_CHARS:,}")
        return function(*args, **kwargs)

    if hasattr(function, "jinja_pass_arg"):  # Jinja's marker: pass the environment or context
        bounded.jinja_pass_arg = function.jinja_pass_arg
    return bounded


# optimized=False: no constant folding, which would run a filter such as center(10**9) at compile time
_ENV = _BoundedEnvironment(undefined=StrictUndefined, autoescape=False, optimized=False)
_ENV.globals["range"] = _bounded_range
_ENV.filters = {name: _bounded_filter(f) for name, f in _ENV.filters.items()}


def _render_bounded(template, context: dict, seconds: float) -> str:
    """Render within ``seconds`` and ``MAX_CHARS``; raises TemplateLimit beyond them."""
    deadline = time.monotonic() + seconds

    def trace(frame, event, arg):
        if time.monotonic() > deadline:
            raise TemplateLimit(f"took longer than {seconds:g} s")
        # line events only in the template's own code (its loops); Jinja's helpers and filters
        # are checked when they are called, which keeps the cost of a normal render low
        return trace if frame.f_code.co_filename == "<template>" else None

    parts, size = [], 0
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        for part in template.generate(**context):
            size += len(part)
            if size > MAX_CHARS:
                raise TemplateLimit(f"longer than {MAX_CHARS:,} characters")
            parts.append(part)
    finally:
        sys.settrace(previous)
    return "".join(parts)


class Constant(str):
    """A template without Jinja syntax (``chart_fields: p_setpoint_kw,p_meas_kw``): its own text,
    given back without a render (an evaluation renders every firing alert's annotations)."""


def compile_template(source: str, seconds: float = MAX_SECONDS):
    """Compile and trial-render with sample values; raises TemplateProblem with the reason."""
    if len(source) > MAX_CHARS:
        raise TemplateProblem(f"template longer than {MAX_CHARS:,} characters")
    if "{" not in source and "\r" not in source:  # no {{ }}, {% %} or {# #}, no newline Jinja rewrites:
        return Constant(source.removesuffix("\n"))  # Jinja gives the text, less one final newline
    try:
        template = _ENV.from_string(source)
        _render_bounded(template, SAMPLE_CONTEXT, seconds)
    except TemplateError as exc:
        raise TemplateProblem(f"template does not render: {exc.message or exc}") from None
    except TemplateLimit as exc:
        raise TemplateProblem(f"template too costly: {exc}") from None
    except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError, MemoryError) as exc:
        raise TemplateProblem(f"template does not render: {type(exc).__name__}: {exc}") from None
    return template


def render(template, context: dict, seconds: float = MAX_SECONDS) -> str:
    if isinstance(template, Constant):
        return str(template)
    try:
        return _render_bounded(template, context, seconds)
    except TemplateError as exc:  # a value the trial render did not meet: show it, never crash
        return f"(template error: {exc.message or exc})"
    except (TemplateLimit, ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as exc:
        return f"(template error: {exc})"
