"""Quoting for InfluxQL, so that no tag value or name can change the meaning of a query."""

from __future__ import annotations

import re


def quote_ident(name: str) -> str:
    """Quote a measurement, tag, field or database name: ``"name"``.

    >>> quote_ident('my "box"')
    '"my \\\\"box\\\\""'
    """
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal: ``'value'``; a tag value compared with ``=`` goes through here."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def quote_regex(pattern: str) -> str:
    """Quote a regular expression literal: ``/pattern/``, escaping the delimiter."""
    return "/" + pattern.replace("\\/", "/").replace("/", "\\/") + "/"


def regex_any_of(values: list[str]) -> str:
    """A regex literal matching exactly one of ``values`` (each escaped), for ``tag =~ ...``."""
    return quote_regex("^(" + "|".join(re.escape(v) for v in values) + ")$")
