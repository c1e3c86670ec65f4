"""Stage: authenticate. Tokens in every form InfluxDB clients send, against a real inventory."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from collector.auth import Unauthorized, authenticate
from inventory import Registry


@pytest.fixture
def registry(tmp_path: Path):
    with Registry(tmp_path / "registry.sqlite") as registry:
        yield registry


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"telegraf:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("form", "headers", "query"),
    [
        ("token", lambda t: {"authorization": f"Token {t}"}, lambda t: {}),
        ("bearer", lambda t: {"authorization": f"Bearer {t}"}, lambda t: {}),
        ("basic", lambda t: {"authorization": basic(t)}, lambda t: {}),
        ("v1 query", lambda t: {}, lambda t: {"p": t}),
    ],
)
def test_every_token_form_finds_its_box(registry: Registry, form, headers, query) -> None:
    token = registry.issue("jbox-0007", site="s", region="IDF", service="fcr")
    box = authenticate(registry.authenticate, headers(token), query(token))
    assert box.jbox_id == "jbox-0007", form


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Token"}, {"authorization": "Token jbx_unknown"}, {"authorization": "Basic !!!"}],
)
def test_missing_or_unknown_tokens_are_refused(registry: Registry, headers: dict[str, str]) -> None:
    registry.issue("jbox-0007")
    with pytest.raises(Unauthorized, match="missing, unknown, revoked or expired token"):
        authenticate(registry.authenticate, headers, {})


def test_a_revoked_token_is_refused(registry: Registry) -> None:
    token = registry.issue("jbox-0007")
    registry.revoke("jbox-0007")
    with pytest.raises(Unauthorized):
        authenticate(registry.authenticate, {"authorization": f"Token {token}"}, {})
