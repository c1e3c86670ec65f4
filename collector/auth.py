"""Authenticate a request: read the box token, in every way InfluxDB clients and Telegraf send one,
and find its box."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping

from inventory import Box


class Unauthorized(Exception):
    """No token, or one the inventory does not know (unknown, revoked, expired): 401."""


def authenticate(lookup: Callable[[str], Box | None], headers: Mapping[str, str], query: Mapping[str, str]) -> Box:
    """The box whose token the request carries; ``lookup`` is the inventory's token check."""
    token = token_from(headers, query)
    box = lookup(token) if token else None
    if box is None:
        raise Unauthorized("missing, unknown, revoked or expired token")
    return box


def token_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """``Authorization: Token t`` (InfluxDB 2.x clients), ``Bearer t``, Basic auth whose password
    is the token (InfluxDB 1.x clients, Telegraf's influxdb output), or the v1 ``p`` parameter."""
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme in ("token", "bearer") and value.strip():
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return query.get("p") or None
