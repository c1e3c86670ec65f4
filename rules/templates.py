"""Annotation templates: Jinja2 in a sandbox, so ops can edit them without running code.

Available names: ``labels`` (dict), ``value`` (float or None), ``alert`` (name), ``box`` (site,
region, service of the box, when the alert is about one). Undefined names are errors, found when
the rule file is checked, not at 3 a.m. when the alert fires.
"""

from __future__ import annotations

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
SAMPLE_CONTEXT = {
    "labels": {"jbox_id": "jbox-0001", "severity": "critical", "alertname": "Sample"},
    "value": 123.4,
    "alert": "Sample",
    "box": {"site": "site-001", "region": "IDF", "service": "fcr"},
}


class TemplateProblem(ValueError):
    pass


def compile_template(source: str):
    """Compile and trial-render with sample values; raises TemplateProblem with Jinja's reason."""
    try:
        template = _ENV.from_string(source)
        template.render(**SAMPLE_CONTEXT)
    except TemplateError as exc:
        raise TemplateProblem(f"template does not render: {exc.message or exc}") from None
    return template


def render(template, context: dict) -> str:
    try:
        return template.render(**context)
    except TemplateError as exc:  # a value the trial render did not meet: show it, never crash
        return f"(template error: {exc.message or exc})"
