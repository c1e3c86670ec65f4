"""The registry: box and gateway tokens, their lifecycle, and the migration from schema 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inventory import Box, Gateway, Registry, RegistryError, hash_token
from inventory.schema import SCHEMA_VERSION

_V1_SCHEMA = """
CREATE TABLE boxes (jbox_id TEXT PRIMARY KEY, site TEXT NOT NULL DEFAULT '', region TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, last_seen REAL);
CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, jbox_id TEXT NOT NULL REFERENCES boxes(jbox_id),
    created_at REAL NOT NULL, expires_at REAL, revoked_at REAL);
CREATE INDEX tokens_by_box ON tokens(jbox_id);
PRAGMA user_version=1;
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock):
    """The same registry on both engines: every test below holds for the file and the shared server."""
    location = tmp_path / "registry.sqlite" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Registry(location, clock=clock) as registry:
        registry.issue("jbox-a1", site="site-a", region="IDF", service="fcr")
        registry.issue("jbox-a2", site="site-a", region="IDF", service="afrr")
        registry.issue("jbox-b1", site="site-b", region="PACA", service="fcr")
        yield registry


def test_a_version_1_registry_is_migrated_and_its_tokens_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_V1_SCHEMA)
        db.execute("INSERT INTO boxes(jbox_id, site, region, service, created_at) VALUES ('jbox-1','s','IDF','fcr',0)")
        old_hash = hash_token("jbx_old")
        db.execute("INSERT INTO tokens(token_hash, jbox_id, created_at) VALUES (?, 'jbox-1', 0)", (old_hash,))
    with Registry(path) as registry:
        assert registry.authenticate("jbx_old") == Box("jbox-1", "s", "IDF", "fcr")
        token = registry.issue_gateway("gw-s", site="s")
        assert registry.authenticate(token) == Gateway("gw-s", site="s")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    with Registry(path) as registry:  # opening a current registry again changes nothing
        assert [gateway.gateway_id for gateway in registry.gateways()] == ["gw-s"]


def test_a_registry_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(RuntimeError, match="registry schema 99 is newer than this jboxmon"):
        Registry(path).open()


def test_a_site_gateway_covers_every_box_of_its_site_and_no_other(registry: Registry) -> None:
    token = registry.issue_gateway("gw-a", site="site-a")
    gateway = registry.authenticate(token)
    assert isinstance(gateway, Gateway)
    boxes = {box.jbox_id: box for box in registry.boxes()}
    assert gateway.covers(boxes["jbox-a1"]) and gateway.covers(boxes["jbox-a2"])
    assert not gateway.covers(boxes["jbox-b1"])
    # a box commissioned at the site later is covered without touching the gateway
    registry.issue("jbox-a3", site="site-a")
    assert gateway.covers(next(box for box in registry.boxes() if box.jbox_id == "jbox-a3"))


def test_a_gateway_bound_to_boxes_covers_exactly_those(registry: Registry) -> None:
    token = registry.issue_gateway("gw-list", boxes=["jbox-a1", "jbox-b1"])
    gateway = registry.authenticate(token)
    assert gateway == Gateway("gw-list", boxes=frozenset({"jbox-a1", "jbox-b1"}))
    covered = {box.jbox_id for box in registry.boxes() if gateway.covers(box)}
    assert covered == {"jbox-a1", "jbox-b1"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either to a site or to a list of boxes"),
        ({"site": "site-a", "boxes": ["jbox-a1"]}, "either to a site or to a list of boxes"),
        ({"boxes": ["jbox-zz"]}, "unknown box 'jbox-zz'"),
    ],
)
def test_a_gateway_binding_must_be_one_site_or_known_boxes(registry: Registry, kwargs, message) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.issue_gateway("gw-x", **kwargs)
    assert registry.gateways() == []  # the refused request left nothing behind


def test_box_and_gateway_ids_share_one_namespace(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="'jbox-a1' is a box id"):
        registry.issue_gateway("jbox-a1", site="site-a")
    registry.issue_gateway("gw-a", site="site-a")
    with pytest.raises(RegistryError, match="'gw-a' is a gateway id"):
        registry.issue("gw-a")
    with pytest.raises(RegistryError, match="already has an active token"):
        registry.issue_gateway("gw-a", site="site-b")


def test_gateway_tokens_rotate_with_an_overlap_and_revoke_at_once(registry: Registry, clock: Clock) -> None:
    first = registry.issue_gateway("gw-a", site="site-a")
    second = registry.rotate("gw-a", overlap_s=60)
    assert registry.authenticate(first) is not None and registry.authenticate(second) is not None
    clock.now += 61
    assert registry.authenticate(first) is None
    assert registry.authenticate(second) is not None
    assert [g.active_tokens for g in registry.gateways()] == [1]
    assert registry.revoke("gw-a") == 1
    assert registry.authenticate(second) is None
    # revoked: it may be issued again, with a new binding
    third = registry.issue_gateway("gw-a", boxes=["jbox-b1"])
    assert registry.authenticate(third) == Gateway("gw-a", boxes=frozenset({"jbox-b1"}))


def test_every_operator_verb_moves_the_change_counter_and_last_seen_does_not(registry: Registry) -> None:
    before = registry.changes()
    registry.issue_gateway("gw-a", site="site-a")
    registry.rotate("jbox-a1", 10)
    registry.revoke("jbox-a2")
    assert registry.changes() == before + 3
    registry.mark_seen([("jbox-a1", 5.0)], [("gw-a", 6.0)])
    assert registry.changes() == before + 3
    assert registry.gateways()[0].last_seen == 6.0
    with pytest.raises(RegistryError):
        registry.rotate("nobody", 10)
    assert registry.changes() == before + 3  # a refused verb rolls back, counter included


def test_credentials_leave_revoked_tokens_out(registry: Registry) -> None:
    gateway_token = registry.issue_gateway("gw-b", site="site-b")
    registry.revoke("jbox-b1")
    credentials = registry.credentials()
    owners = {getattr(p, "jbox_id", None) or p.gateway_id for p, _ in credentials.tokens.values()}
    assert owners == {"jbox-a1", "jbox-a2", "gw-b"}
    assert credentials.tokens[hash_token(gateway_token)][0] == Gateway("gw-b", site="site-b")
    assert set(credentials.boxes) == {"jbox-a1", "jbox-a2", "jbox-b1"}
