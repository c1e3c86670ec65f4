"""The authorisation stage: which boxes an authenticated token may write for.

A box token writes its own box only: a point without ``jbox_id`` is its box's, a point naming
another box refuses the whole request (403). A site-gateway token writes line protocol for the
boxes it covers (every box of its site, or its listed boxes): each point must name its box, and a
point naming a box outside the gateway's cover refuses the whole request (403 naming the box).
Either way the box's tags then come from the registry, never from the point.
"""

from __future__ import annotations

from collections.abc import Callable

from inventory import Box, Gateway, Principal

GATEWAY_KEY = "gateway:"  # a gateway's rate-limit bucket and last-seen entry: "gateway:<id>", apart from boxes


class ForbiddenError(Exception):
    """The request carries data for a box the token may not write: answered 403, nothing written."""


class MissingBox(ValueError):
    """A gateway's point does not say which box it is for: that point is refused (400)."""


class BoxScope:
    """A box token: its own box."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self.key = box.jbox_id  # rate-limit bucket and last-seen entry
        self.json_allowed = True

    def box_for(self, claimed: str | None) -> Box:
        if claimed is not None and claimed != self.box.jbox_id:
            raise ForbiddenError(f"this token belongs to {self.box.jbox_id!r} and cannot write data of {claimed!r}")
        return self.box


class GatewayScope:
    """A site-gateway token: the boxes it covers, looked up by id in the inventory."""

    def __init__(self, gateway: Gateway, lookup: Callable[[str], Box | None], covered: int = 1) -> None:
        self.gateway = gateway
        self.lookup = lookup
        self.key = GATEWAY_KEY + gateway.gateway_id
        self.covered = max(1, covered)  # boxes behind it: its rate limit is this many boxes' worth
        self.json_allowed = False  # JSON payloads are a box's own; gateways push line protocol

    def box_for(self, claimed: str | None) -> Box:
        if claimed is None:
            raise MissingBox("a gateway token must name the box of each point: add a jbox_id tag")
        box = self.lookup(claimed)
        if box is None or not self.gateway.covers(box):
            raise ForbiddenError(
                f"gateway {self.gateway.gateway_id!r} writes for {self.gateway.describe()} "
                f"and cannot write data of {claimed!r}"
            )
        return box


Scope = BoxScope | GatewayScope
_SCOPES = (BoxScope, GatewayScope)  # isinstance with a tuple: half the cost of a union, per request


def writes_json(principal: Principal | Scope) -> bool:
    """Whether a JSON payload may come from this principal: a box's own, not a site gateway's
    (the gate asks it before the body is read, without building the scope)."""
    if isinstance(principal, _SCOPES):
        return principal.json_allowed
    return not isinstance(principal, Gateway)


def scope_of(
    principal: Principal | Scope,
    lookup: Callable[[str], Box | None] | None = None,
    covered: Callable[[Gateway], int] | None = None,
) -> Scope:
    """The scope of an authenticated principal (a scope is passed through unchanged); a gateway's
    needs the inventory's box ``lookup`` and ``covered`` (how many boxes it covers)."""
    if isinstance(principal, _SCOPES):
        return principal
    if isinstance(principal, Gateway):
        if lookup is None:
            raise ValueError("a gateway scope needs the inventory's box lookup")
        return GatewayScope(principal, lookup, covered(principal) if covered else 1)
    return BoxScope(principal)
