"""Notification templates: jinja2 in a sandbox, bounded in time and size, overridable from files.

Built-in templates live in ``alerting/templates/``; a file of the same name in ``templates_dir``
replaces one. Templates are user input: the sandbox forbids attribute tricks, ``range`` is capped and
checks the deadline at each step, and output is cut off (an error) past ``MAX_OUTPUT_CHARS`` or
``MAX_RENDER_S`` — a runaway template fails one notification permanently instead of hanging delivery.
"""

from __future__ import annotations

import time
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

BUILTIN = Path(__file__).parent / "templates"
MAX_OUTPUT_CHARS = 1_000_000
MAX_RENDER_S = 2.0
MAX_RANGE = 10_000


class TemplateError(ValueError):
    """A template is broken or ran over its bounds; retrying the same notification cannot help."""


class Templates:
    def __init__(self, directory: Path | None = None, *, max_chars: int = MAX_OUTPUT_CHARS,
                 max_seconds: float = MAX_RENDER_S) -> None:  # fmt: skip
        searched = [str(directory)] if directory else []
        self.max_chars = max_chars
        self.max_seconds = max_seconds
        self._deadline = 0.0
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([*searched, str(BUILTIN)]),
            autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=False),
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["range"] = self._range

    def _range(self, *args: int):
        values = range(*args)
        if len(values) > MAX_RANGE:
            raise TemplateError(f"range() of {len(values)} items, at most {MAX_RANGE}")
        for value in values:
            if time.monotonic() > self._deadline:
                raise TemplateError(f"template ran longer than {self.max_seconds}s")
            yield value

    def render(self, name: str, context: dict) -> str:
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc
        self._deadline = time.monotonic() + self.max_seconds
        parts, size = [], 0
        try:
            for chunk in template.generate(context):
                size += len(chunk)
                if size > self.max_chars:
                    raise TemplateError(f"template {name}: output longer than {self.max_chars} characters")
                if time.monotonic() > self._deadline:
                    raise TemplateError(f"template {name}: ran longer than {self.max_seconds}s")
                parts.append(chunk)
        except TemplateError:
            raise
        except Exception as exc:  # SecurityError, TypeError, UndefinedError... from user text
            raise TemplateError(f"template {name}: {type(exc).__name__}: {exc}") from exc
        return "".join(parts)
