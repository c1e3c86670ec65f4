"""Annotation templates: a text without Jinja syntax is given back as Jinja would render it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.templates import _ENV, SAMPLE_CONTEXT, Constant, compile_template, render


@settings(max_examples=300)
@given(text=st.text(st.characters(blacklist_characters="{", blacklist_categories=("Cs",)), max_size=60))
def test_a_text_without_jinja_syntax_renders_as_jinja_renders_it(text) -> None:
    template = compile_template(text)
    assert isinstance(template, Constant) or "\r" in text  # Jinja rewrites \r\n and \r: rendered
    assert render(template, SAMPLE_CONTEXT) == _ENV.from_string(text).render(**SAMPLE_CONTEXT)


def test_a_template_with_syntax_is_rendered() -> None:
    template = compile_template("{{ labels.jbox_id }} at {{ value | round(1) }}")
    assert not isinstance(template, Constant)
    assert render(template, {"labels": {"jbox_id": "jb-1"}, "value": 41.26}) == "jb-1 at 41.3"
